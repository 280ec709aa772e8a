# typeformer-inspect on good and hostile files, against manifests written at build time by
# write_test_manifests (typeformer::manifest<Model>; the CMake helper is tested in tests/package).
# Each case's exit status and output are compared with a golden file in expected/
# (run_inspect.cmake -DUPDATE=ON rewrites one), and the listing's names, dtypes, shapes, sizes
# and CRC-32s are checked against Python's own reading of the file (check_listing.py).
if(NOT TARGET typeformer_inspect)
  return()
endif()
set(_manifests ${CMAKE_CURRENT_BINARY_DIR}/manifests)
add_executable(write_test_manifests ${CMAKE_CURRENT_LIST_DIR}/write_test_manifests.cpp)
target_link_libraries(write_test_manifests PRIVATE typeformer::header_only typeformer_warnings)
add_custom_command(OUTPUT ${_manifests}/small_encoder.json
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_manifests}
  COMMAND write_test_manifests ${_manifests}
  DEPENDS write_test_manifests
  COMMENT "typeformer: the inspect tests' weight manifests" VERBATIM)
add_custom_target(test_manifests ALL DEPENDS ${_manifests}/small_encoder.json)

# name | exit status | arguments, paths relative to tests/ (<m> = the manifests' directory)
set(_inspect_cases
  "help|0|--help"
  "usage|2|"
  "list_safetensors|0|data/export/pytorch_small_encoder.safetensors"
  "list_tfjs_quantised|0|data/tfjs/dense_norm_uint8/model.json"
  "against_matching|0|data/export/pytorch_small_encoder.safetensors --against <m>/small_encoder.json"
  "against_other_model|1|data/export/pytorch_causal_token_model.safetensors --against <m>/small_encoder.json"
  "against_mis_shaped|1|data/export/pytorch_small_encoder.safetensors --against <m>/small_encoder_wide_feedforward.json"
  "against_mis_shaped_json|1|data/export/pytorch_small_encoder.safetensors --json --against <m>/small_encoder_wide_feedforward.json"
  "against_tfjs_sharded|0|data/tfjs/dense_norm_sharded/model.json --against <m>/keras_dense_norm.json"
  "against_tfjs_wrong_naming|1|data/tfjs/dense_norm/model.json --against <m>/small_encoder.json"
  "missing_file|2|data/no_such_file.safetensors"
  "hostile_header_length|2|fuzz/corpus/safetensors_file/hostile-header-length-2-64-1"
  "hostile_overlapping_tensors|2|fuzz/corpus/safetensors_file/hostile-overlapping-tensors"
  "hostile_invalid_utf8_name|2|fuzz/corpus/safetensors_file/hostile-invalid-UTF-8-byte-0xFF"
  "hostile_control_names|0|data/inspect/control_names.safetensors"
  "hostile_tfjs_shard_truncated|2|data/tfjs/hostile/shard_truncated/model.json"
  "hostile_tfjs_path_traversal|2|data/tfjs/hostile/path_traversal/model.json"
  "hostile_manifest_negative_extent|2|data/export/pytorch_small_encoder.safetensors --against data/manifest/hostile/negative_extent.json"
  "hostile_manifest_too_deep|2|data/export/pytorch_small_encoder.safetensors --against data/manifest/hostile/too_deep.json"
  "hostile_manifest_truncated|2|data/export/pytorch_small_encoder.safetensors --against data/manifest/hostile/truncated.json"
  "hostile_manifest_duplicate_key|2|data/export/pytorch_small_encoder.safetensors --against data/manifest/hostile/duplicate_key.json"
  "hostile_manifest_empty_ignore_prefix|2|data/export/pytorch_small_encoder.safetensors --against data/manifest/hostile/empty_ignore_prefix.json"
  "hostile_device|2|/dev/zero")
foreach(_case IN LISTS _inspect_cases)
  string(REPLACE "|" ";" _fields "${_case}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _status)
  list(GET _fields 2 _arguments)
  add_test(NAME inspect.${_name}
    COMMAND ${CMAKE_COMMAND} -DINSPECT=$<TARGET_FILE:typeformer_inspect>
            -DWORK_DIR=${PROJECT_SOURCE_DIR}/tests "-DARGS=${_arguments}"
            -DMANIFESTS=${_manifests} -DEXPECT_STATUS=${_status}
            -DEXPECTED=${CMAKE_CURRENT_LIST_DIR}/expected/${_name}.txt
            -DFOUND=${CMAKE_CURRENT_BINARY_DIR}/inspect_found/${_name}.txt
            -P ${CMAKE_CURRENT_LIST_DIR}/run_inspect.cmake)
  set_tests_properties(inspect.${_name} PROPERTIES LABELS "inspect")
endforeach()

find_program(TYPEFORMER_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(TYPEFORMER_PYTHON3)
  foreach(_file export/pytorch_small_encoder export/pytorch_causal_token_model
                mha/pytorch_causal_top_left_lq7_lk11 layers/keras_multi_head_self)
    string(REPLACE "/" "." _name "${_file}")
    add_test(NAME inspect.listing_matches_python.${_name}
      COMMAND ${TYPEFORMER_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_listing.py
              $<TARGET_FILE:typeformer_inspect> ${TYPEFORMER_TEST_DATA_DIR}/${_file}.safetensors)
    set_tests_properties(inspect.listing_matches_python.${_name} PROPERTIES LABELS "inspect")
  endforeach()
endif()
