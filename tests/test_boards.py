"""Which boards a micro model fits, and a TFLM kernel failure named by its op (fast tier)."""

import pytest

from convert.boards import BOARDS, RESERVED_RAM, board_fits, fit_sentence
from convert.micro import refusal_text


def test_a_model_fits_a_board_only_when_flash_and_ram_both_do():
    nano = BOARDS[0]
    fits = board_fits(100_000, nano.ram_bytes - RESERVED_RAM + 16, boards=[nano])
    assert not fits[0].fits and fits[0].ram_share < 1 and fits[0].flash_share < 1  # no room left for the stack
    assert board_fits(nano.flash_bytes, nano.ram_bytes - RESERVED_RAM, boards=[nano])[0].fits
    assert not board_fits(nano.flash_bytes + 1, 1000, boards=[nano])[0].fits
    sentence = fit_sentence(board_fits(640_040, 263_200))
    assert sentence == ("fits ESP32 (ESP32-WROOM-32) (15.3% flash, 49.4% RAM); does not fit Arduino Nano 33 BLE "
                        "(nRF52840) (61.0% flash, 100.4% RAM), Raspberry Pi Pico (RP2040) (30.5% flash, 97.4% RAM)")


def test_board_fits_refuses_nonsense_sizes():
    with pytest.raises(ValueError, match=r"flash_bytes, arena_bytes: got 0, 10, expected positive"):
        board_fits(0, 10)


def test_a_kernel_that_fails_to_prepare_is_named():
    detail = ("m.tmp.tflite: TFLite Micro cannot run it with a 65536-byte arena: TFLM failed to allocate tensors "
              "(Type INT16 (7) not supported.; Node HARD_SWISH (number 12f) failed to prepare with status 1)")
    text = refusal_text(detail)
    assert text.startswith("its HARD_SWISH kernel cannot prepare op 12 of the model (TFLM: TFLM failed to allocate")
    assert "m.tmp.tflite" not in text
