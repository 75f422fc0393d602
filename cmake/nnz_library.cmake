# libnnz: the embeddable decoder. The C API (csrc/include/nnz/nnz.h) over the decoder library
# library alone (no encoder, PL fitter or pruning code: ctest libnnz_symbols), built as a
# static and a shared library (both named libnnz), the nnz-decode tool, and install rules with a
# CMake package (find_package(nnz) -> nnz::nnz, nnz::nnz_static) and a pkg-config file.
# No Python, no third-party dependency. Included from CMakeLists.txt when NNZ_BUILD_LIBRARY is ON.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NNZ_PUBLIC_INCLUDE_DIR ${PROJECT_SOURCE_DIR}/csrc/include)
set(NNZ_CAPI_SOURCES ${PROJECT_SOURCE_DIR}/csrc/capi/nnz_capi.cpp)

# The shared library exports the nnz_* functions only.
set_target_properties(nnz_decoder PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)

foreach(kind static shared)
  string(TOUPPER ${kind} KIND)
  add_library(nnz_${kind} ${KIND} ${NNZ_CAPI_SOURCES} $<TARGET_OBJECTS:nnz_decoder>)
  target_include_directories(nnz_${kind}
    PUBLIC $<BUILD_INTERFACE:${NNZ_PUBLIC_INCLUDE_DIR}> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/csrc)
  target_compile_options(nnz_${kind} PRIVATE ${NNZ_WARNINGS})
  target_compile_definitions(nnz_${kind} PRIVATE
    NNZ_PROJECT_VERSION_MAJOR=${PROJECT_VERSION_MAJOR}
    NNZ_PROJECT_VERSION_MINOR=${PROJECT_VERSION_MINOR}
    NNZ_PROJECT_VERSION_PATCH=${PROJECT_VERSION_PATCH})
  target_link_libraries(nnz_${kind} PUBLIC Threads::Threads)
  set_target_properties(nnz_${kind} PROPERTIES OUTPUT_NAME nnz POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
endforeach()
set_target_properties(nnz_shared PROPERTIES EXPORT_NAME nnz VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
set_target_properties(nnz_static PROPERTIES EXPORT_NAME nnz_static)
# A C program linking the static library with the C compiler driver needs the C++ runtime too.
set(NNZ_CXX_RUNTIME_LIBS)
foreach(lib stdc++ c++ m)
  if(lib IN_LIST CMAKE_CXX_IMPLICIT_LINK_LIBRARIES)
    list(APPEND NNZ_CXX_RUNTIME_LIBS ${lib})
    target_link_libraries(nnz_static INTERFACE $<$<NOT:$<LINK_LANGUAGE:CXX>>:${lib}>)
  endif()
endforeach()
list(TRANSFORM NNZ_CXX_RUNTIME_LIBS PREPEND "-l")
string(JOIN " " NNZ_PC_LIBS_PRIVATE ${NNZ_CXX_RUNTIME_LIBS} -pthread)
target_compile_definitions(nnz_shared PUBLIC NNZ_SHARED_LIBRARY PRIVATE NNZ_BUILDING_LIBRARY)
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  target_link_options(nnz_shared PRIVATE -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/libnnz.map)
  set_target_properties(nnz_shared PROPERTIES LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/libnnz.map)
endif()

add_executable(nnz-decode ${PROJECT_SOURCE_DIR}/csrc/tools/nnz_decode.cpp)
target_link_libraries(nnz-decode PRIVATE nnz_static)
target_compile_options(nnz-decode PRIVATE ${NNZ_WARNINGS})

install(TARGETS nnz_static nnz_shared nnz-decode EXPORT nnzTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${NNZ_PUBLIC_INCLUDE_DIR}/nnz/nnz.h ${NNZ_PUBLIC_INCLUDE_DIR}/nnz/nnz.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nnz)
set(NNZ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/nnz)
install(EXPORT nnzTargets NAMESPACE nnz:: DESTINATION ${NNZ_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/nnzConfig.cmake.in
  ${PROJECT_BINARY_DIR}/nnzConfig.cmake INSTALL_DESTINATION ${NNZ_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nnzConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nnzConfig.cmake ${PROJECT_BINARY_DIR}/nnzConfigVersion.cmake
  DESTINATION ${NNZ_CMAKE_DIR})
configure_file(${PROJECT_SOURCE_DIR}/cmake/nnz.pc.in ${PROJECT_BINARY_DIR}/nnz.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/nnz.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(NNZ_BUILD_TESTS)
  foreach(suite capi restore)  # the C API, with files written by the encoder library
    add_executable(nnz_${suite}_tests ${PROJECT_SOURCE_DIR}/tests/cpp/${suite}_tests.cpp)
    target_link_libraries(nnz_${suite}_tests PRIVATE nnz_static nnz_encoder)
    target_include_directories(nnz_${suite}_tests PRIVATE ${PROJECT_SOURCE_DIR}/csrc)
    target_compile_options(nnz_${suite}_tests PRIVATE ${NNZ_WARNINGS})
    add_test(NAME nnz_${suite}_tests COMMAND nnz_${suite}_tests)
  endforeach()
  add_test(NAME libnnz_symbols COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DSHARED=$<TARGET_FILE:nnz_shared>
    -DSTATIC=$<TARGET_FILE:nnz_static> -P ${PROJECT_SOURCE_DIR}/cmake/check_libnnz_symbols.cmake)
  # The fuzz targets' seed corpus and regression inputs, replayed without libFuzzer.
  foreach(target container codec entropy)
    add_executable(replay_fuzz_${target} ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_${target}.cpp
      ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
    target_link_libraries(replay_fuzz_${target} PRIVATE nnz_static)
    target_include_directories(replay_fuzz_${target} PRIVATE ${PROJECT_SOURCE_DIR}/csrc)
    target_compile_options(replay_fuzz_${target} PRIVATE ${NNZ_WARNINGS})
    set(inputs ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${target})
    if(EXISTS ${PROJECT_SOURCE_DIR}/tests/fuzz/regressions/${target})
      list(APPEND inputs ${PROJECT_SOURCE_DIR}/tests/fuzz/regressions/${target})
    endif()
    add_test(NAME fuzz_replay_${target} COMMAND replay_fuzz_${target} ${inputs})
  endforeach()
  # The public header must compile as strict C: build the C example with it.
  enable_language(C)
  add_executable(nnz_example_c ${PROJECT_SOURCE_DIR}/examples/c/nnz_checksums.c)
  set_target_properties(nnz_example_c PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  target_compile_options(nnz_example_c PRIVATE -Wall -Wextra -Wpedantic $<$<BOOL:${NNZ_WERROR}>:-Werror>)
  target_link_libraries(nnz_example_c PRIVATE nnz_shared)
endif()
