# The exporters' round trips: a file written by tools/export_torch.py for a module of
# examples/pytorch_modules.py, loaded by its C++ declaration with verify::on.
#
# Always: the committed exports in tests/data/export/ load, and declarations that disagree with
# the module where the weight file cannot tell (an activation, pre- or post-norm) are refused by
# the self-test. With TYPEFORMER_TEST_EXPORTERS (the release preset, so CI runs it once): the
# exporter runs here, with Debian's PyTorch, and its fresh output goes through the same checks.
add_executable(export_roundtrip ${CMAKE_CURRENT_LIST_DIR}/export_roundtrip.cpp)
target_link_libraries(export_roundtrip PRIVATE typeformer_test_kernels typeformer_warnings)

# name | declaration | committed file | expected failure text ("" = must load)
set(_export_cases
  "small_encoder|small_encoder|pytorch_small_encoder|"
  "small_encoder_declared_relu|small_encoder_with_relu|pytorch_small_encoder|self-test failed"
  "causal_token_model|causal_token_model|pytorch_causal_token_model|"
  "causal_token_model_declared_post_norm|causal_token_model_post_norm|pytorch_causal_token_model|self-test failed"
  "small_decoder|small_decoder|pytorch_small_decoder|"
  "small_decoder_declared_pre_norm|small_decoder_pre_norm|pytorch_small_decoder|self-test failed"
  "encoder_with_head|encoder_with_head|pytorch_encoder_with_head|"
  "encoder_with_head_unzeroed|encoder_with_head_unzeroed|pytorch_encoder_with_head|the declaration has no tfm::zero_padded_positions: declare it right after that encoder's layers"
  "encoder_with_head_causal|encoder_with_head_unzeroed|pytorch_encoder_with_head_causal|"
  "encoder_with_head_causal_zeroed|encoder_with_head|pytorch_encoder_with_head_causal|PyTorch's encoder fast path did not run for this self-test")
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

option(TYPEFORMER_TEST_EXPORTERS
       "Run tools/export_torch.py and tools/keras_h5_to_safetensors.py in the tests (needs python3-torch, python3-h5py)" OFF)
if(NOT TYPEFORMER_TEST_EXPORTERS)
  return()
endif()
set(TYPEFORMER_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "A Python that can import torch")
execute_process(COMMAND ${TYPEFORMER_TORCH_PYTHON} -c "import torch, numpy, h5py"
                RESULT_VARIABLE _torch_missing OUTPUT_QUIET ERROR_QUIET)
if(_torch_missing)
  message(FATAL_ERROR "TYPEFORMER_TEST_EXPORTERS: ${TYPEFORMER_TORCH_PYTHON} cannot import torch, "
                      "numpy and h5py (tools/install-deps.sh python3-torch python3-numpy python3-h5py)")
endif()

# name | factory | exporter arguments (space-separated) | declarations that must load | that must be refused
set(_export_runs
  "small_encoder|small_encoder|--input-shape 3,9,32 --key-lengths 9,5,1|small_encoder|small_encoder_with_relu"
  "causal_token_model|causal_token_model|--tokens 2,11,50 --causal|causal_token_model|causal_token_model_post_norm"
  "small_decoder|small_decoder|--input-shape 2,7,32 --key-lengths 7,5 --causal --memory-shape 2,9,32 --memory-lengths 9,4|small_decoder|small_decoder_pre_norm"
  "encoder_with_head|encoder_with_head|--input-shape 3,9,32 --key-lengths 9,5,1 --call module(x,src_key_padding_mask=padding)|encoder_with_head|encoder_with_head_unzeroed"
  "encoder_with_head_causal|encoder_with_head|--input-shape 3,9,32 --key-lengths 9,5,1 --causal --call module(x,src_key_padding_mask=padding,mask=causal)|encoder_with_head_unzeroed|encoder_with_head")
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

# Calls that would drop a mask the self-test records are refused, not exported: a custom module's
# default call module(x) with --key-lengths (the padding would never reach the module), and a
# decoder call that leaves out the memory's padding.
# name | factory | exporter arguments | the refusal's text
set(_refused_runs
  "custom_module_default_call|encoder_with_head|--input-shape 3,9,32 --key-lengths 9,5,1|--key-lengths was given, but the module does not apply that mask"
  "pooled_output_default_call|pooled_classifier|--input-shape 2,5,16 --key-lengths 5,3|--key-lengths was given, but the call 'module(x)' does not pass `padding`"
  "decoder_without_memory_padding|small_decoder|--input-shape 2,7,32 --key-lengths 7,5 --memory-shape 2,9,32 --memory-lengths 9,4 --call module(x,memory,tgt_key_padding_mask=padding)|--memory-lengths was given, but the module does not apply that mask")
foreach(_run IN LISTS _refused_runs)
  string(REPLACE "|" ";" _fields "${_run}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _factory)
  list(GET _fields 2 _arguments)
  list(GET _fields 3 _refusal)
  add_test(NAME export.pytorch.refuses_${_name}
    COMMAND ${CMAKE_COMMAND}
      -DPYTHON=${TYPEFORMER_TORCH_PYTHON}
      -DEXPORTER=${PROJECT_SOURCE_DIR}/tools/export_torch.py
      -DMODULE=${PROJECT_SOURCE_DIR}/examples/pytorch_modules.py:${_factory}
      "-DARGUMENTS=${_arguments}" "-DREFUSAL=${_refusal}"
      -DOUT=${CMAKE_CURRENT_BINARY_DIR}/exported/refused_${_name}.safetensors
      -P ${CMAKE_CURRENT_LIST_DIR}/run_export.cmake)
  set_tests_properties(export.pytorch.refuses_${_name} PROPERTIES LABELS "export")
endforeach()

# Keras HDF5 (tools/keras_h5_to_safetensors.py) on the files of tests/data/keras_h5, built in the
# Keras 2, Keras 3 and keras-multi-head layouts (synthetic: see tools/keras_goldens/
# make_keras_h5_fixtures.py), each converted with its reference sample as the self-test.
set(_h5 ${TYPEFORMER_TEST_DATA_DIR}/keras_h5)
# name | input file | sample | extra arguments | declaration | declaration that must fail
set(_keras_runs
  "dense_norm_keras2|dense_norm_keras2.h5|dense_norm||keras_dense_norm|keras_dense_norm_with_tanh"
  "dense_norm_keras3_archive|dense_norm.keras|dense_norm||keras_dense_norm"
  "embedding_lstm_keras2|embedding_lstm_keras2.weights.h5|embedding_lstm||keras_embedding_lstm"
  "embedding_lstm_keras3|embedding_lstm.weights.h5|embedding_lstm||keras_embedding_lstm"
  "mha_block_keras2|mha_block_keras2.h5|mha_block||keras_mha_block"
  "mha_block_keras3_0|mha_block.weights.h5|mha_block|--config ${_h5}/mha_block_config.json|keras_mha_block")
foreach(_run IN LISTS _keras_runs)
  string(REPLACE "|" ";" _fields "${_run}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _input)
  list(GET _fields 2 _sample)
  list(GET _fields 3 _extra)
  list(GET _fields 4 _declaration)
  set(_bad "")
  list(LENGTH _fields _count)
  if(_count GREATER 5)
    list(GET _fields 5 _bad)
  endif()
  add_test(NAME export.keras_h5.${_name}
    COMMAND ${CMAKE_COMMAND}
      -DPYTHON=${TYPEFORMER_TORCH_PYTHON}
      -DEXPORTER=${PROJECT_SOURCE_DIR}/tools/keras_h5_to_safetensors.py
      -DMODULE=${_h5}/${_input}
      "-DARGUMENTS=--selftest-input ${_h5}/${_sample}_input.npy --selftest-output ${_h5}/${_sample}_output.npy --atol 1e-5 --rtol 1e-4 ${_extra}"
      -DOUT=${CMAKE_CURRENT_BINARY_DIR}/exported/keras_${_name}.safetensors
      -DROUNDTRIP=$<TARGET_FILE:export_roundtrip> -DGOOD=${_declaration} -DBAD=${_bad}
      -P ${CMAKE_CURRENT_LIST_DIR}/run_export.cmake)
  set_tests_properties(export.keras_h5.${_name} PROPERTIES LABELS "export")
endforeach()
# keras-multi-head's layer alone: its names and shapes against the manifest of its declaration.
if(TARGET typeformer_inspect)
  add_test(NAME export.keras_h5.keras_multi_head
    COMMAND ${CMAKE_COMMAND}
      -DPYTHON=${TYPEFORMER_TORCH_PYTHON}
      -DEXPORTER=${PROJECT_SOURCE_DIR}/tools/keras_h5_to_safetensors.py
      -DMODULE=${_h5}/keras_multi_head_keras2.weights.h5
      -DOUT=${CMAKE_CURRENT_BINARY_DIR}/exported/keras_multi_head.safetensors
      -DINSPECT=$<TARGET_FILE:typeformer_inspect>
      -DMANIFEST=${CMAKE_CURRENT_BINARY_DIR}/manifests/keras_multi_head_self.json
      -P ${CMAKE_CURRENT_LIST_DIR}/run_export.cmake)
  set_tests_properties(export.keras_h5.keras_multi_head PROPERTIES LABELS "export")
endif()
# A Keras 3.0 file (layers saved by class, without their names) is refused without the model's
# config, not guessed.
add_test(NAME export.keras_h5.refuses_unnamed_layers
  COMMAND ${TYPEFORMER_TORCH_PYTHON} ${PROJECT_SOURCE_DIR}/tools/keras_h5_to_safetensors.py
          ${_h5}/mha_block.weights.h5 --list)
set_tests_properties(export.keras_h5.refuses_unnamed_layers PROPERTIES LABELS "export"
  PASS_REGULAR_EXPRESSION "layers/multi_head_attention: Keras 3 stores layers by class \\(multi_head_attention\\), and this file does not record the layer's name")
