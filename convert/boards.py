"""Which microcontroller boards a TFLite Micro model fits: its flash (the model array) and
RAM (the tensor arena, margin included) against each board's, as `convert micro` prints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    """A board's memory as its maker's datasheet gives it."""

    name: str
    flash_bytes: int
    ram_bytes: int


BOARDS = (
    Board("Arduino Nano 33 BLE (nRF52840)", 1024 * 1024, 256 * 1024),
    Board("ESP32 (ESP32-WROOM-32)", 4 * 1024 * 1024, 520 * 1024),
    Board("Raspberry Pi Pico (RP2040)", 2 * 1024 * 1024, 264 * 1024),
)
"""The boards of the table in docs/micro.md, "Flash and RAM beside three boards"."""
RESERVED_RAM = 16 * 1024
"""RAM left for the stack, the interpreter object and the firmware's own data beside the
arena. An allowance, not a measurement: nothing here was run on a board."""


@dataclass(frozen=True)
class BoardFit:
    """One model on one board. TFLM's own code, the interpreter object and the stack come on
    top, so a share near 100% does not leave room for them."""

    board: Board
    flash_share: float
    """Model bytes over the board's flash."""
    ram_share: float
    """Arena bytes over the board's RAM."""

    @property
    def fits(self) -> bool:
        """The model array fits the flash, and the arena leaves RESERVED_RAM of the RAM free."""
        return self.flash_share <= 1 and self.ram_share <= 1 - RESERVED_RAM / self.board.ram_bytes

    def describe(self) -> str:
        return f"{self.board.name} ({self.flash_share:.1%} flash, {self.ram_share:.1%} RAM)"


def board_fits(flash_bytes: int, arena_bytes: int, boards=BOARDS) -> list:
    """The model's share of each board's flash and RAM."""
    if flash_bytes < 1 or arena_bytes < 1:
        raise ValueError(f"flash_bytes, arena_bytes: got {flash_bytes}, {arena_bytes}, expected positive byte counts")
    return [BoardFit(b, flash_bytes / b.flash_bytes, arena_bytes / b.ram_bytes) for b in boards]


def fit_sentence(fits: list) -> str:
    """'fits A (..), B (..); does not fit C (..)': what `convert micro` prints."""
    yes = [f.describe() for f in fits if f.fits]
    no = [f.describe() for f in fits if not f.fits]
    parts = ([f"fits {', '.join(yes)}"] if yes else []) + ([f"does not fit {', '.join(no)}"] if no else [])
    return "; ".join(parts)
