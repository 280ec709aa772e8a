#pragma once
// Everything a user needs: `#include <typeformer/typeformer.hpp>`.

// The score and mask function vocabulary, the typed masks and the functions' call checks
// first, so that their compile errors name a short chain of includes (a clang error lists every
// header between the user's file and the rule).
#include <typeformer/functions/nodes.hpp>
#include <typeformer/functions/operands.hpp>

#include <typeformer/expr/masks.hpp>

#include <typeformer/expr/function_attention.hpp>
#include <typeformer/layers/attention_variant.hpp>

// The layers next, for the same reason: a declaration rule's error names the layer's header
// right after the user's file, not through io/ or model/.
#include <typeformer/layers/activations.hpp>
#include <typeformer/layers/additive_attention.hpp>
#include <typeformer/layers/conv1d.hpp>
#include <typeformer/layers/dense.hpp>
#include <typeformer/layers/dot_attention.hpp>
#include <typeformer/layers/embedding.hpp>
#include <typeformer/layers/feed_forward.hpp>
#include <typeformer/layers/flatten.hpp>
#include <typeformer/layers/layer_norm.hpp>
#include <typeformer/layers/lstm.hpp>
#include <typeformer/layers/multi_head_attention.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/positional_encoding.hpp>
#include <typeformer/layers/relative_position_attention.hpp>

// The model next: a composition rule's (or a layer's declaration rule's) error in a model
// names model.hpp right after the user's file.
#include <typeformer/model/model.hpp>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/errors.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/expr/evaluate.hpp>
#include <typeformer/expr/nodes.hpp>
#include <typeformer/io/load_weights.hpp>
#include <typeformer/io/random_parameters.hpp>
#include <typeformer/io/safetensors.hpp>
#include <typeformer/io/weight_manifest.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/model/cross_attention.hpp>
#include <typeformer/model/introspection.hpp>
#include <typeformer/model/runner.hpp>
#include <typeformer/model/self_test.hpp>
#include <typeformer/model/transformer_layers.hpp>
#include <typeformer/tensor/view.hpp>
#include <typeformer/tensor/xtensor_adapt.hpp>
