# Records the git commit in every binary (the "tscale version" of the environment fingerprint).
execute_process(
  COMMAND git describe --always --dirty --abbrev=12
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  OUTPUT_VARIABLE TSCALE_GIT_DESCRIBE
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET)
if(NOT TSCALE_GIT_DESCRIBE)
  set(TSCALE_GIT_DESCRIBE "unknown")
endif()
set(TSCALE_VERSION_STRING "${PROJECT_VERSION}+${TSCALE_GIT_DESCRIBE}")
