# Runs typeformer-inspect and compares its exit status and its output (stdout, then stderr) with
# a golden file. Paths are relative to WORK_DIR, and "<m>" stands for the manifests' directory
# in ARGS and in the output, so the goldens hold no machine's paths. With -DUPDATE=ON the
# golden is rewritten instead (review the diff before committing).
cmake_minimum_required(VERSION 3.22)
string(REPLACE "<m>" "${MANIFESTS}" _command_line "${ARGS}")
separate_arguments(_args UNIX_COMMAND "${_command_line}")
execute_process(COMMAND ${INSPECT} ${_args} WORKING_DIRECTORY ${WORK_DIR}
                RESULT_VARIABLE _status OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
set(_found "exit ${_status}\n${_out}${_err}")
string(REPLACE "${MANIFESTS}" "<m>" _found "${_found}")
if(NOT _status STREQUAL EXPECT_STATUS)
  message(FATAL_ERROR "typeformer-inspect ${ARGS}: exit status ${_status}, expected "
                      "${EXPECT_STATUS}:\n${_found}")
endif()
if(UPDATE)
  file(WRITE ${EXPECTED} "${_found}")
  message(STATUS "updated ${EXPECTED}")
  return()
endif()
set(_expected "(no golden file)")
if(EXISTS ${EXPECTED})
  file(READ ${EXPECTED} _expected)
endif()
if(NOT _found STREQUAL _expected)
  file(WRITE ${FOUND} "${_found}")
  message(FATAL_ERROR "typeformer-inspect ${ARGS}: output differs from ${EXPECTED} "
                      "(this run's output is in ${FOUND}):\n${_found}")
endif()
message(STATUS "typeformer-inspect ${ARGS}: as expected")
