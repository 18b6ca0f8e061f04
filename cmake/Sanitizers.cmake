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
