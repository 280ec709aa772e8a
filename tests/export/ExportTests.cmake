# The exporters' round trips: a file written by tools/export_torch.py for a module of
# examples/pytorch_modules.py, loaded by its C++ declaration with verify::on.
#
# Always: the committed exports in tests/data/export/ load, and declarations that disagree with
# the module where the weight file cannot tell (an activation, pre- or post-norm) are refused by
# the self-test. With TYPEFORMER_TEST_EXPORTERS (the release preset, so CI runs it once): the
# exporter runs here, with Debian's PyTorch, and its fresh output goes through the same checks.
add_executable(export_roundtrip ${CMAKE_CURRENT_LIST_DIR}/export_roundtrip.cpp)
target_link_libraries(export_roundtrip PRIVATE typeformer typeformer_warnings typeformer_simd)

# name | declaration | committed file | expected failure text ("" = must load)
set(_export_cases
  "small_encoder|small_encoder|pytorch_small_encoder|"
  "small_encoder_declared_relu|small_encoder_with_relu|pytorch_small_encoder|self-test failed"
  "causal_token_model|causal_token_model|pytorch_causal_token_model|"
  "causal_token_model_declared_post_norm|causal_token_model_post_norm|pytorch_causal_token_model|self-test failed")
foreach(_case IN LISTS _export_cases)
  string(REPLACE "|" ";" _fields "${_case}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _declaration)
  list(GET _fields 2 _file)
  list(GET _fields 3 _failure)
  set(_expect "")
  if(_failure)
    set(_expect --expect-failure "${_failure}")
  endif()
  add_test(NAME export.committed.${_name}
    COMMAND export_roundtrip ${_declaration} ${TYPEFORMER_TEST_DATA_DIR}/export/${_file}.safetensors
            ${_expect})
  set_tests_properties(export.committed.${_name} PROPERTIES LABELS "export")
endforeach()

option(TYPEFORMER_TEST_EXPORTERS "Run tools/export_torch.py in the tests (needs python3-torch)" OFF)
if(NOT TYPEFORMER_TEST_EXPORTERS)
  return()
endif()
set(TYPEFORMER_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "A Python that can import torch")
execute_process(COMMAND ${TYPEFORMER_TORCH_PYTHON} -c "import torch, numpy"
                RESULT_VARIABLE _torch_missing OUTPUT_QUIET ERROR_QUIET)
if(_torch_missing)
  message(FATAL_ERROR "TYPEFORMER_TEST_EXPORTERS: ${TYPEFORMER_TORCH_PYTHON} cannot import torch "
                      "and numpy (tools/install-deps.sh python3-torch python3-numpy)")
endif()

# name | factory | exporter arguments (space-separated) | declarations that must load | that must be refused
set(_export_runs
  "small_encoder|small_encoder|--input-shape 3,9,32 --key-lengths 9,5,1|small_encoder|small_encoder_with_relu"
  "causal_token_model|causal_token_model|--tokens 2,11,50 --causal|causal_token_model|causal_token_model_post_norm")
foreach(_run IN LISTS _export_runs)
  string(REPLACE "|" ";" _fields "${_run}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _factory)
  list(GET _fields 2 _arguments)
  list(GET _fields 3 _good)
  list(GET _fields 4 _bad)
  set(_out ${CMAKE_CURRENT_BINARY_DIR}/exported/pytorch_${_name}.safetensors)
  add_test(NAME export.pytorch.${_name}
    COMMAND ${CMAKE_COMMAND}
      -DPYTHON=${TYPEFORMER_TORCH_PYTHON}
      -DEXPORTER=${PROJECT_SOURCE_DIR}/tools/export_torch.py
      -DMODULE=${PROJECT_SOURCE_DIR}/examples/pytorch_modules.py:${_factory}
      "-DARGUMENTS=${_arguments}"
      -DOUT=${_out}
      -DROUNDTRIP=$<TARGET_FILE:export_roundtrip>
      -DGOOD=${_good} -DBAD=${_bad}
      -P ${CMAKE_CURRENT_LIST_DIR}/run_export.cmake)
  set_tests_properties(export.pytorch.${_name} PROPERTIES LABELS "export")
endforeach()
