# tscale_warnings: an interface target every tscale target links to get the project's warning set.
add_library(tscale_warnings INTERFACE)
target_compile_options(tscale_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough)
if(TSCALE_WERROR)
  target_compile_options(tscale_warnings INTERFACE -Werror)
endif()
