# Sourced first by the scripts that start Wine (test.sh, pascal.sh): runs the calling script
# again, once, under `setarch -R`, so it and every program it starts (Wine, ctest, the
# cross-check, the conformance suite's servers) run with address-space randomization off; the
# setting is inherited across fork and exec. Why: Debian's Wine 8 has no preloader, so nothing
# reserves 0x7ffe0000 (KUSER_SHARED_DATA, which Wine must map there) before the kernel places the
# brk heap, randomized over about 1 GiB above the loader at 0x7d000000; about 1 start in 1 400
# the heap covers it and the program dies at once with "failed to map the shared user data:
# c0000018". cmake/mingw-w64-common.cmake does the same for CTest; tests/windows/wine_layout.py
# checks both.
#
#   source "$root/scripts/windows/fixed_layout.sh"   (at the top of a script, before any Wine)
#
# Already fixed (ADDR_NO_RANDOMIZE, 0x0040000, in /proc/self/personality): nothing to do.
# TS_WINE_FIXED_LAYOUT=1 marks the re-run, so a setarch that cannot set it never loops.
if ! (( 0x$(</proc/self/personality) & 0x0040000 )) && [[ ${TS_WINE_FIXED_LAYOUT:-} != 1 ]]; then
  if command -v setarch >/dev/null; then
    TS_WINE_FIXED_LAYOUT=1 exec setarch -R "$BASH" "$0" "$@"
  fi
  echo "-- NOTE: setarch not found (apt-get install util-linux): Wine runs with address" \
       "randomization on, and about 1 start in 1 400 fails (c0000018)"
fi
