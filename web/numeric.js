// Rounding, summing and formatting as Python and numpy do them, for the ports of the
// runtime's image code.

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

/**
 * numpy's sum of `n` values from `start` (np.sum of a contiguous array, or along its last
 * axis): numpy's pairwise_sum, in numpy's order. Fewer than 8 values are added one by one;
 * up to 128 into 8 running sums, combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)),
 * then the rest one by one; more are split in two halves (the first a multiple of 8 long).
 * Every addition is rounded by `round`: f32 for a float32 array, none for float64.
 */
export function pairwiseSum(values, round = Number, start = 0, n = values.length - start) {
  if (n < 8) {
    let sum = 0;
    for (let i = start; i < start + n; i++) sum = round(sum + values[i]);
    return sum;
  }
  if (n <= 128) {
    let s0 = values[start];
    let s1 = values[start + 1];
    let s2 = values[start + 2];
    let s3 = values[start + 3];
    let s4 = values[start + 4];
    let s5 = values[start + 5];
    let s6 = values[start + 6];
    let s7 = values[start + 7];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const at = start + i;
      s0 = round(s0 + values[at]);
      s1 = round(s1 + values[at + 1]);
      s2 = round(s2 + values[at + 2]);
      s3 = round(s3 + values[at + 3]);
      s4 = round(s4 + values[at + 4]);
      s5 = round(s5 + values[at + 5]);
      s6 = round(s6 + values[at + 6]);
      s7 = round(s7 + values[at + 7]);
    }
    let sum = round(round(round(s0 + s1) + round(s2 + s3)) + round(round(s4 + s5) + round(s6 + s7)));
    for (; i < n; i++) sum = round(sum + values[start + i]);
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return round(pairwiseSum(values, round, start, half) + pairwiseSum(values, round, start + half, n - half));
}

/**
 * Python's f"{x:.{digits}f}": the exact value of x rounded to `digits` decimals, halves to
 * even (toFixed rounds the exact value too, but halves up).
 */
export function pyFixed(x, digits) {
  const rounded = x.toFixed(digits);
  const exact = x.toFixed(100);
  const point = exact.indexOf(".");
  const rest = exact.slice(point + 1 + digits);
  if (!/^50*$/.test(rest)) return rounded;
  const kept = exact.slice(0, digits ? point + 1 + digits : point); // a tie: keep it when its last digit is even
  return Number(kept.at(-1)) % 2 === 0 ? kept : rounded;
}

/** Python's f"{x:.{digits}%}": x times 100 (a float multiplication), as pyFixed, and "%". */
export function pyPercent(x, digits) {
  return `${pyFixed(x * 100, digits)}%`;
}
