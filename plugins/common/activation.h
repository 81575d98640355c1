/* Activation choices as written in topology files (`activation=`); the
 * index is what the core hands a plugin for that CLNET_SET_CHOICE setting,
 * and what cl/activation.cl's kernels take. Shared by every backend. */
#ifndef CLNET_ACTIVATION_H
#define CLNET_ACTIVATION_H

#define CLNET_ACTIVATION_CHOICES "linear|relu|softmax"
enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_SOFTMAX = 2 };

#endif
