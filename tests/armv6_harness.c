/* A Linux program for an ARMv6 core (the ARM1176JZF-S of a Raspberry Pi Zero and Pi 1) around a
 * generated C engine, with no C library: it reads inputs of ENGINE_INPUT_BYTES from stdin, runs
 * ENGINE_predict on each and writes each output to stdout, through raw system calls (svc 0).
 *
 * Debian's armhf libc and libgcc are ARMv7 code, which an ARMv6 core cannot run, so this file
 * brings the little the program needs from them: _start, read, write and exit, memcpy and
 * memset, and the EABI's integer division (ARMv6 has no divide instruction). The engine itself
 * is compiled as a device compiles it, against the C library's headers.
 *
 * Built (tests/test_c_armv6.py) with -ffreestanding -fno-tree-loop-distribute-patterns (so that
 * memcpy's loop does not become a call to memcpy) and -DENGINE=<name>
 * -DENGINE_HEADER='"<name>.h"'; linked with -nostdlib -static. Exit status: 0, or 2 for a
 * partial input, 3 when predict fails, 4 when stdout cannot be written. */
#include <stddef.h>
#include <stdint.h>

#include ENGINE_HEADER

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define PREDICT CONCAT(ENGINE, _predict)
#define INPUT_BYTES CONCAT(ENGINE, _INPUT_BYTES)
#define OUTPUT_BYTES CONCAT(ENGINE, _OUTPUT_BYTES)

#define SYS_EXIT 1
#define SYS_READ 3
#define SYS_WRITE 4

static long syscall3(long number, long a, long b, long c) {
  register long r7 __asm__("r7") = number;
  register long r0 __asm__("r0") = a;
  register long r1 __asm__("r1") = b;
  register long r2 __asm__("r2") = c;
  __asm__ volatile("svc 0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
  return r0;
}

void *memcpy(void *destination, const void *source, size_t n) {
  unsigned char *d = destination;
  const unsigned char *s = source;
  while (n--) *d++ = *s++;
  return destination;
}

void *memset(void *destination, int value, size_t n) {
  unsigned char *d = destination;
  while (n--) *d++ = (unsigned char)value;
  return destination;
}

/* The EABI's division helpers, by shift and subtract. A quotient and remainder pair comes back
 * in r0 and r1, as a 64-bit value does. Division by zero gives 0 (the engine never divides by 0). */
static uint32_t divide(uint32_t n, uint32_t d, uint32_t *remainder) {
  uint32_t q = 0, r = 0;
  int bit;
  if (d == 0) {
    *remainder = 0;
    return 0;
  }
  for (bit = 31; bit >= 0; --bit) {
    r = (r << 1) | ((n >> bit) & 1u);
    if (r >= d) {
      r -= d;
      q |= 1u << bit;
    }
  }
  *remainder = r;
  return q;
}

uint32_t __aeabi_uidiv(uint32_t n, uint32_t d) {
  uint32_t r;
  return divide(n, d, &r);
}

uint64_t __aeabi_uidivmod(uint32_t n, uint32_t d) {
  uint32_t r, q = divide(n, d, &r);
  return (uint64_t)q | ((uint64_t)r << 32);
}

int32_t __aeabi_idiv(int32_t n, int32_t d) {
  uint32_t r, q = divide(n < 0 ? 0u - (uint32_t)n : (uint32_t)n, d < 0 ? 0u - (uint32_t)d : (uint32_t)d, &r);
  return (n < 0) != (d < 0) ? (int32_t)(0u - q) : (int32_t)q;
}

uint64_t __aeabi_idivmod(int32_t n, int32_t d) {
  uint32_t r, q = divide(n < 0 ? 0u - (uint32_t)n : (uint32_t)n, d < 0 ? 0u - (uint32_t)d : (uint32_t)d, &r);
  uint32_t quotient = (n < 0) != (d < 0) ? 0u - q : q, remainder = n < 0 ? 0u - r : r;
  return (uint64_t)quotient | ((uint64_t)remainder << 32);
}

/* n bytes from stdin into buffer: n, 0 at the end of the input, -1 for a partial input. */
static long read_exactly(int8_t *buffer, long n) {
  long got = 0;
  while (got < n) {
    long count = syscall3(SYS_READ, 0, (long)(buffer + got), n - got);
    if (count <= 0) return got == 0 && count == 0 ? 0 : -1;
    got += count;
  }
  return got;
}

static int write_all(const int8_t *buffer, long n) {
  while (n > 0) {
    long count = syscall3(SYS_WRITE, 1, (long)buffer, n);
    if (count <= 0) return -1;
    buffer += count;
    n -= count;
  }
  return 0;
}

static int8_t input[INPUT_BYTES];
static int8_t output[OUTPUT_BYTES];

int run(void) {
  for (;;) {
    const long got = read_exactly(input, INPUT_BYTES);
    if (got == 0) return 0;
    if (got < 0) return 2;
    if (PREDICT(input, output) != 0) return 3;
    if (write_all(output, OUTPUT_BYTES) != 0) return 4;
  }
}

/* The kernel starts here with the stack set up; run's status (r0) goes to exit. */
__attribute__((naked, noreturn)) void _start(void) {
  __asm__ volatile(
      "bl run\n\t"
      "mov r7, #1\n\t"
      "svc 0\n\t");
}
