# One exporter round trip (see ExportTests.cmake): run EXPORTER on MODULE (a module, or a Keras
# file) with ARGUMENTS into OUT, then load it as each declaration in GOOD (must pass the
# self-test) and BAD (must fail it), or compare it with MANIFEST using INSPECT; or, with REFUSAL,
# check that the exporter refuses with that text.
get_filename_component(_dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${_dir}")
separate_arguments(_arguments UNIX_COMMAND "${ARGUMENTS}")
file(REMOVE "${OUT}")
execute_process(COMMAND ${PYTHON} ${EXPORTER} ${MODULE} ${_arguments} --out ${OUT}
                RESULT_VARIABLE _result ERROR_VARIABLE _errors)
# REFUSAL: the exporter must refuse, saying so, and write nothing.
if(REFUSAL)
  string(FIND "${_errors}" "${REFUSAL}" _at)
  if(NOT _result EQUAL 2 OR _at LESS 0 OR EXISTS "${OUT}")
    message(FATAL_ERROR "${EXPORTER} ${MODULE} ${ARGUMENTS} should refuse with \"${REFUSAL}\" "
                        "(exit ${_result}):\n${_errors}")
  endif()
  return()
endif()
message("${_errors}")
if(_result)
  message(FATAL_ERROR "${EXPORTER} ${MODULE} failed (${_result})")
endif()
# Without a self-test (a lone layer), the names and shapes are checked against a manifest.
if(MANIFEST)
  execute_process(COMMAND ${INSPECT} ${OUT} --against ${MANIFEST} RESULT_VARIABLE _result)
  if(_result)
    message(FATAL_ERROR "the export does not match ${MANIFEST}")
  endif()
endif()
foreach(_declaration IN LISTS GOOD)
  execute_process(COMMAND ${ROUNDTRIP} ${_declaration} ${OUT} RESULT_VARIABLE _result)
  if(_result)
    message(FATAL_ERROR "the export does not load as ${_declaration}")
  endif()
endforeach()
foreach(_declaration IN LISTS BAD)
  execute_process(COMMAND ${ROUNDTRIP} ${_declaration} ${OUT} --expect-failure "self-test failed"
                  RESULT_VARIABLE _result)
  if(_result)
    message(FATAL_ERROR "${_declaration} should fail the export's self-test")
  endif()
endforeach()
