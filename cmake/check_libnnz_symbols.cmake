# ctest libnnz_symbols: libnnz is the decoder alone. Its exports are the C API (nnz_*), and no
# symbol of the shared library (its whole symbol table, local symbols included) or of the static
# library belongs to an encoder, the PL fitter, the container writer, pruning or the comparison
# formats (csrc/extras).
#   cmake -DNM=nm -DSHARED=libnnz.so -DSTATIC=libnnz.a -P cmake/check_libnnz_symbols.cmake
set(forbidden "encode|Enc(oder|Table|Symbol)|NnzWriter|pl_fit|PlBlockModel|bounded_quantize|code_lengths|write_table|weights_from_counts|nonzero_mask|gather_nonzero|prune|rowcol|anneal|smallest_groups|matrix_format|group_l2")

# The symbol lines `nm ARGN` prints, as a list.
function(symbols out)
  execute_process(COMMAND ${NM} ${ARGN} OUTPUT_VARIABLE text RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${ARGN} failed: ${err}")
  endif()
  string(REPLACE ";" "," text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  list(FILTER lines INCLUDE REGEX "^[0-9a-f]* [A-Za-z] ")
  set(${out} "${lines}" PARENT_SCOPE)
endfunction()

set(failures "")
symbols(exports -D --defined-only ${SHARED})
set(not_c_api ${exports})
list(FILTER not_c_api EXCLUDE REGEX " [A-Za-z] nnz_| A NNZ_[0-9]+$")
foreach(line IN LISTS not_c_api)
  string(APPEND failures "\n  exported, not the C API: ${line}")
endforeach()
if(NOT exports)
  string(APPEND failures "\n  ${SHARED} exports nothing")
endif()

foreach(lib ${SHARED} ${STATIC})
  symbols(hits -C --defined-only ${lib})
  list(FILTER hits INCLUDE REGEX "${forbidden}")
  foreach(hit IN LISTS hits)
    string(APPEND failures "\n  ${lib}: ${hit}")
  endforeach()
endforeach()

if(failures)
  message(FATAL_ERROR "libnnz holds more than the decoder:${failures}")
endif()
list(LENGTH exports count)
message(STATUS "libnnz: ${count} exports, all C API; no encoder, fitter, writer or pruning symbol")
