#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-modbus: step -> battery setpoint latency and lease jitter while a
# device times out (tests/modbus/bench.py says how). Env: PHLOEMD, PHLOEMCTL.
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "${PHLOEMD:?}" "${PHLOEMCTL:?}" "${BENCH_STEPS:-20}"
