# Run at every build (cmake -P, from host/CMakeLists.txt): writes OUT from IN with lxbox's
# version and the source tree's git commit ("unknown" without git, as in a release tarball), and
# only when they changed, so an unchanged tree recompiles and relinks nothing.
set(LXBOX_COMMIT "unknown")
# SRC's own .git only: a tarball unpacked inside some other checkout must not take its commit.
if(EXISTS "${SRC}/.git")
  execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
    OUTPUT_VARIABLE commit RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND commit)
    set(LXBOX_COMMIT "${commit}")
    execute_process(COMMAND git -C "${SRC}" diff --quiet HEAD -- RESULT_VARIABLE dirty ERROR_QUIET)
    if(dirty EQUAL 1)
      string(APPEND LXBOX_COMMIT "-dirty")
    endif()
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)
