# Warnings for kabar's own code, linked PRIVATE so that generated and third-party code is not held
# to them.
add_library(kabar_warnings INTERFACE)
target_compile_options(kabar_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
  -Wimplicit-fallthrough -Wformat=2
  $<$<BOOL:${KABAR_WARNINGS_AS_ERRORS}>:-Werror>)
