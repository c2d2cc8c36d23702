/* A bare-metal test harness for a generated C engine on an emulated Cortex-M (QEMU's mps2
 * boards, picolibc with semihosting): it reads the inputs from input.bin on the host, runs
 * ENGINE_predict on each, and writes the outputs to output.bin. It prints
 *   stack <bytes>
 * once: the deepest the first inference went below the caller's stack pointer, found by
 * painting the free stack before the call, with no interrupt enabled (an interrupt's frame
 * is not the engine's); then one line per inference:
 *   inference <n> ticks <SysTick ticks>
 * ticks: SysTick on the processor clock; under `qemu -icount shift=0` one tick is 40
 * instructions on the mps2 boards.
 * Built with -DENGINE=<name> -DENGINE_HEADER='"<name>.h"' -DHARNESS_STACK_BYTES=<size>. */
#include <stdint.h>
#include <stdio.h>

#include ENGINE_HEADER

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define PREDICT CONCAT(ENGINE, _predict)
#define INPUT_BYTES CONCAT(ENGINE, _INPUT_BYTES)
#define OUTPUT_BYTES CONCAT(ENGINE, _OUTPUT_BYTES)

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0xFFFFFFu
#define PAINT 0xA5u
#define PAINT_MARGIN 2048u /* the harness's own calls (fread, printf) stay above this */

static volatile uint32_t systick_wraps;

/* picolibc's vector table calls this on each SysTick wrap (every 2^24 ticks). */
void arm_systick_isr(void) { systick_wraps++; }

static uint64_t systick_now(void) {
  uint32_t wraps, count;
  do {
    wraps = systick_wraps;
    count = SYST_CVR;
  } while (wraps != systick_wraps);
  return (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - count);
}

static int8_t input[INPUT_BYTES];
static int8_t output[OUTPUT_BYTES];

/* The stack the first inference uses, with SysTick off. */
static long measure_stack(FILE *in) {
  volatile uint8_t *sp, *low, *p;
  if (fread(input, 1, INPUT_BYTES, in) != INPUT_BYTES) return -1;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  low = sp - (HARNESS_STACK_BYTES - PAINT_MARGIN);
  for (p = low; p < sp - 16; ++p) *p = PAINT;
  if (PREDICT(input, output) != 0) return -2;
  for (p = low; p < sp && *p == PAINT; ++p) {
  }
  if (p == low) return -3;
  return (long)(sp - p);
}

int main(void) {
  FILE *in = fopen("input.bin", "rb");
  FILE *out = fopen("output.bin", "wb");
  unsigned long n = 0;
  long stack;
  if (in == NULL || out == NULL) {
    printf("error: cannot open input.bin or output.bin\n");
    return 2;
  }
  stack = measure_stack(in);
  if (stack < 0) {
    printf("error: %s\n", stack == -1 ? "no input" : stack == -2 ? "predict failed" : "the stack overflowed its paint");
    return 3;
  }
  printf("stack %ld\n", stack);
  rewind(in);
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
  while (SYST_CVR == 0) {
  }
  while (fread(input, 1, INPUT_BYTES, in) == INPUT_BYTES) {
    const uint64_t start = systick_now();
    const int status = PREDICT(input, output);
    const uint64_t ticks = systick_now() - start;
    if (status != 0) {
      printf("error: predict returned %d\n", status);
      return 4;
    }
    printf("inference %lu ticks %lu\n", n++, (unsigned long)ticks);
    if (fwrite(output, 1, OUTPUT_BYTES, out) != OUTPUT_BYTES) {
      printf("error: cannot write output.bin\n");
      return 5;
    }
  }
  fclose(out);
  fclose(in);
  return 0;
}
