// The same encoder with 1 layer: a model's cost should not grow with its depth.
#define LAYERS 1
#include "encoder_program.hpp"
