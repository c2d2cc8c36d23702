// Rounding as Python and numpy do it, for the ports of the runtime's image code.

/** Nearest integer, halves to even: np.round, and Python's round() of a float. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Python's round(x) for a float: an int, halves to even. */
export const pyRound = roundHalfEven;

/** The float32 nearest to x (numpy's float32 arithmetic is one correctly rounded step). */
export const f32 = Math.fround;
