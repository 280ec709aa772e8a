// Plain causal attention and 4 score/mask variants (variants_program.hpp).
#define VARIANTS 4
#include "variants_program.hpp"
