// Plain causal attention and 0 score/mask variants (variants_program.hpp).
#define VARIANTS 0
#include "variants_program.hpp"
