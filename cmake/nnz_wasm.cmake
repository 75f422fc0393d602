# The WebAssembly decoder: libnnz's C API over the decoder library, plus the JavaScript sink of
# web/src/nnz_wasm.cpp, linked into one standalone module (no Emscripten JavaScript glue: the
# loader is web/nnz.mjs). Single-threaded; memory grows up to 4 GiB. Configure with Emscripten's
# toolchain, e.g. web/build.sh:
#   emcmake cmake -S . -B build/wasm -DNNZ_BUILD_WASM=ON -DNNZ_BUILD_LIBRARY=OFF
# CMAKE_BUILD_TYPE picks the optimization: Release (-O3, the default) or MinSizeRel (-Os).
if(NOT EMSCRIPTEN)
  message(FATAL_ERROR "NNZ_BUILD_WASM needs the Emscripten toolchain (emcmake cmake ..., see web/README.md)")
endif()

# What web/nnz.mjs calls. Everything else is dropped by the linker.
set(NNZ_WASM_EXPORTS malloc free
  nnz_version_string nnz_status_string nnz_dtype_name nnz_open_memory nnz_close nnz_format_version
  nnz_tensor_count nnz_tensor_info_at nnz_decoded_size nnz_decode_tensor nnz_restore_size nnz_restore_file
  nnz_needs_base nnz_base_info nnz_attach_base nnz_attach_base_tensors
  nnzw_restore nnzw_tensor_info_layout nnzw_base_tensor_layout nnzw_error_size nnzw_error_message_offset)
list(TRANSFORM NNZ_WASM_EXPORTS PREPEND "_")
list(JOIN NNZ_WASM_EXPORTS "," NNZ_WASM_EXPORT_LIST)

# WebAssembly SIMD (every current browser, Node.js 16.4+): the core's SSE2 code paths compile to
# it through Emscripten's SSE2 headers. With link-time optimization across the core's translation
# units, float32 decoding is about 1.5 times as fast as without both (bench/bench_wasm.py).
set(NNZ_WASM_CODEGEN -msimd128 -msse2 -flto)
target_compile_options(nnz_decoder PRIVATE ${NNZ_WASM_CODEGEN})

add_executable(nnz_wasm ${PROJECT_SOURCE_DIR}/web/src/nnz_wasm.cpp ${PROJECT_SOURCE_DIR}/csrc/capi/nnz_capi.cpp)
target_include_directories(nnz_wasm PRIVATE ${PROJECT_SOURCE_DIR}/csrc/include ${PROJECT_SOURCE_DIR}/csrc)
target_compile_options(nnz_wasm PRIVATE ${NNZ_WARNINGS} ${NNZ_WASM_CODEGEN})
target_link_libraries(nnz_wasm PRIVATE nnz_decoder)
target_link_options(nnz_wasm PRIVATE
  ${NNZ_WASM_CODEGEN} --no-entry -sSTANDALONE_WASM=1 -sEXPORTED_FUNCTIONS=${NNZ_WASM_EXPORT_LIST}
  -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=16MB -sMAXIMUM_MEMORY=4GB
  # The nnz_js imports are not Emscripten library functions: instantiating checks them instead.
  -sERROR_ON_UNDEFINED_SYMBOLS=0 -sWARN_ON_UNDEFINED_SYMBOLS=0)
set_target_properties(nnz_wasm PROPERTIES OUTPUT_NAME nnz SUFFIX .wasm)
