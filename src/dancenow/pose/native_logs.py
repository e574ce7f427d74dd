"""mediapipe's C++ libraries (absl, TensorFlow Lite) write warnings straight to file descriptor 2 that look like
failures in a stage's log (`W0000 ... inference_feedback_manager.cc:114] ...`, `NORM_RECT without IMAGE_DIMENSIONS`)
and that no setting silences. While mediapipe runs, descriptor 2 goes through a pipe that drops those lines and
passes everything else on as it comes (progress bars included). DANCENOW_NATIVE_LOGS=1 keeps them."""

import contextlib
import os
import re
import sys
import threading

NATIVE = re.compile(rb"[WIEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] [^\n]*\n"
                    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\n"
                    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\n")
STARTS = (b"W0", b"I0", b"E0", b"F0", b"WARNING: All log", b"INFO: Created TensorFlow")


def _pump(read_fd, write_fd):
    """Copy read_fd to write_fd without NATIVE lines; a partial line is held only where one may begin."""
    held = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        held = NATIVE.sub(b"", held + chunk)
        cut = len(held)
        for start in STARTS:  # a native line may have begun and not yet ended: hold from there
            at = held.rfind(start)
            if at != -1 and b"\n" not in held[at:]:
                cut = min(cut, at)
        if cut:
            os.write(write_fd, held[:cut])
        held = held[cut:]
    if held:
        os.write(write_fd, held)
    os.close(read_fd)


@contextlib.contextmanager
def without_native_logs():
    if os.environ.get("DANCENOW_NATIVE_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, saved), name="dancenow-native-logs", daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last writer: the pump reads to the end and stops
        pump.join(timeout=5)
        os.close(saved)
