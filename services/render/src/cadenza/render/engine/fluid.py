"""The few libfluidsynth calls the renderer needs that pyfluidsynth does not wrap
(`fluid_synth_process`, channel types) or wraps with per-call Python checks we do not
want in the hot loop. Bound on the library pyfluidsynth has already loaded."""

from __future__ import annotations

import ctypes
from typing import Any

import fluidsynth

_fl: Any = fluidsynth._fl
_synth = ctypes.c_void_p
_int = ctypes.c_int
_float_pp = ctypes.c_void_p  # float**: an array of buffer addresses

CHANNEL_TYPE_MELODIC = 0
CHANNEL_TYPE_DRUM = 1
# fluid_log_level
LOG_PANIC, LOG_ERR, LOG_WARN, LOG_INFO, LOG_DBG = range(5)


def _bind(name: str, *argtypes: Any, restype: Any = _int) -> Any:
    function = getattr(_fl, name)
    function.argtypes = list(argtypes)
    function.restype = restype
    return function


# int fluid_synth_process(synth, len, nfx, float *fx[], nout, float *out[])
process = _bind("fluid_synth_process", _synth, _int, _int, _float_pp, _int, _float_pp)
noteon = _bind("fluid_synth_noteon", _synth, _int, _int, _int)
noteoff = _bind("fluid_synth_noteoff", _synth, _int, _int)
cc = _bind("fluid_synth_cc", _synth, _int, _int, _int)
pitch_bend = _bind("fluid_synth_pitch_bend", _synth, _int, _int)
program_change = _bind("fluid_synth_program_change", _synth, _int, _int)
channel_pressure = _bind("fluid_synth_channel_pressure", _synth, _int, _int)
key_pressure = _bind("fluid_synth_key_pressure", _synth, _int, _int, _int)
set_channel_type = _bind("fluid_synth_set_channel_type", _synth, _int, _int)
sfload = _bind("fluid_synth_sfload", _synth, ctypes.c_char_p, _int)
active_voices = _bind("fluid_synth_get_active_voice_count", _synth)
_set_log_function = _bind(
    "fluid_set_log_function", _int, ctypes.c_void_p, ctypes.c_void_p, restype=ctypes.c_void_p
)


def quiet_logs() -> None:
    """FluidSynth prints errors and warnings (a file that is not a SoundFont, a missing
    preset) on stderr; the renderer reports failures as RenderError with a reason, so
    send all but panics nowhere."""
    for level in (LOG_ERR, LOG_WARN, LOG_INFO, LOG_DBG):
        _set_log_function(level, None, None)
