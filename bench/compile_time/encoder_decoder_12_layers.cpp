// Encoder and decoder of 12 layers each.
#define LAYERS 12
#include "encoder_decoder_program.hpp"
