// README.md's encoder with 6 layers.
#define LAYERS 6
#include "encoder_program.hpp"
