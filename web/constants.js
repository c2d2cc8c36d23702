// The tuning constants of runtime/digits.py, with the same names and values (its docstrings
// say what each one means).

// The constants of runtime/digits.py, with the same names and values (its docstrings say
// what each one means).
export const MNIST_SIZE = 28;
export const DIGIT_BOX = 20; // MNIST fits each digit into 20x20 and pads it to 28x28.
export const WORKING_SIDE = 512; // Photos are reduced by an integer block mean until the longer side is at most this.
export const BACKGROUND_WINDOW = 1 / 4;
export const LIGHT_INK_THIN = 0.5;
export const PAPER_PERCENTILE = 0.9;
export const DARK_PAPER_FLOOR = 0.5;
export const MIN_CONTRAST = 0.12;
export const NOISE_SPREADS = 6.0;
export const RELATIVE_INK = 0.4;
export const STRONG_PERCENTILE = 0.9;
export const NO_DIGIT_CONTRAST = 60 / 255;
export const FRAME_FILL = 0.7;
export const LINE_COVER = 0.3;
export const LINE_REACH = 0.7;
export const LINE_THICKNESS = 0.02;
export const LINE_DARKER = 1.4;
export const FRAME_CONTACT = 0.6;
export const FRAME_DEPTH = 0.25;
export const TOUCH_WEIGHT = 0.25;
export const LINE_SPAN = 0.6;
export const THIN = 0.08;
export const MIN_DIGIT_SIDE = 0.025;
export const MIN_AREA = 0.00015;
export const GROUP_MARGIN = 0.35;
export const GROUP_MIN_MASS = 0.02;
export const SECOND_DIGIT_MASS = 0.2;
export const SECOND_DIGIT_HEIGHT = 0.6;
export const SIDE_BY_SIDE_WIDTH = 0.9;
export const TOUCHING_WIDTH = 1.8;
export const JOIN_SHARE = 0.4;
export const SCALE = 4;
export const KEEP_STROKES = [6.75, 12.5];
export const MNIST_STROKE = 8.3;
export const MAX_ADJUST = 8;
