"""Image files, arrays and camera frames made into a model's input, as its input contract says:
a digit model's MNIST normalisation (digits, on the exactly defined image operations of
raster), any other model's resize (resample, Pillow's bilinear filter). The page's web/*.js
ports these modules step by step (images.js, digits.js and components.js, raster.js,
resample.js), and tests/test_page_js.py holds them to the same bits.

May import: the shared vocabulary, the store (to open image files safely) and this package;
numpy, and Pillow where files are decoded."""
