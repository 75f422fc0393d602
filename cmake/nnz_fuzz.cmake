# libFuzzer targets (clang only), built with ASan + UBSan:
#   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
#     -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNZ_SANITIZE=ON -DNNZ_BUILD_FUZZERS=ON
# The core is compiled with coverage instrumentation and FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
# (checksums are not compared, so mutated bytes reach the parsers behind them): never ship it.
# tests/fuzz/run_ci.sh builds and runs them; tests/fuzz/README.md says how to run a campaign.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "NNZ_BUILD_FUZZERS needs clang (libFuzzer): set CMAKE_CXX_COMPILER=clang++")
endif()
if(NOT NNZ_BUILD_LIBRARY)
  message(FATAL_ERROR "NNZ_BUILD_FUZZERS needs NNZ_BUILD_LIBRARY=ON (the container target uses the C API)")
endif()
foreach(lib nnz_decoder nnz_static)
  target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
  target_compile_definitions(${lib} PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
endforeach()
foreach(target container codec entropy)
  add_executable(fuzz_${target} ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_${target}.cpp)
  target_link_libraries(fuzz_${target} PRIVATE nnz_static)
  target_include_directories(fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/csrc)
  target_compile_options(fuzz_${target} PRIVATE ${NNZ_WARNINGS} -fsanitize=fuzzer)
  target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer)
endforeach()
