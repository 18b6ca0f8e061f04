# AddressSanitizer + UndefinedBehaviorSanitizer (or ThreadSanitizer, which excludes them), on
# every target of the build when enabled.
add_library(kabar_sanitizers INTERFACE)
if(KABAR_FUZZ)
  # Coverage for libFuzzer everywhere; the fuzz targets link the fuzzer's main themselves.
  set(_kabar_san -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                 -fno-sanitize-recover=all)
  target_compile_options(kabar_sanitizers INTERFACE ${_kabar_san})
  target_link_options(kabar_sanitizers INTERFACE -fsanitize=address,undefined)
elseif(KABAR_TSAN)
  set(_kabar_san -fsanitize=thread -fno-omit-frame-pointer)
  target_compile_options(kabar_sanitizers INTERFACE ${_kabar_san})
  target_link_options(kabar_sanitizers INTERFACE ${_kabar_san})
elseif(KABAR_SANITIZERS)
  set(_kabar_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(kabar_sanitizers INTERFACE ${_kabar_san})
  target_link_options(kabar_sanitizers INTERFACE ${_kabar_san})
endif()
# What a program built on kabar's installed libraries needs to link them (tests/package).
set(KABAR_SANITIZER_FLAGS "${_kabar_san}")
string(REPLACE ";" " " KABAR_SANITIZER_FLAGS "${KABAR_SANITIZER_FLAGS}")

# The translation units that instantiate Beast's WebSocket and HTTP streams: UndefinedBehavior
# Sanitizer's null and alignment checks on every pointer use in those templates took 30% of their
# compile time (ws_session.cpp 58 -> 40 s), the slowest of the test build, for checks that guard
# Boost's code more than kabar's (a null dereference still stops the test, under ASan). Every other
# file keeps the full set.
function(kabar_beast_sources)
  if(KABAR_SANITIZERS AND NOT KABAR_FUZZ AND NOT KABAR_TSAN)
    set_source_files_properties(${ARGN} DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
      PROPERTIES COMPILE_OPTIONS -fno-sanitize=null,alignment)
  endif()
endfunction()
