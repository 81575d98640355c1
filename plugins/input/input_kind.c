/* input's definition, for every backend: the network's first layer,
 * which reads no layer and turns the batch's bytes into floats. */
#include "../common/kind.h"
#include "input_settings.h"

static int infer(const clnet_kind_args *a, clnet_layer_plan *plan, char *err)
{
    const int32_t *s = a->settings[INPUT_SHAPE].i;
    plan->out = (clnet_shape){s[0], s[1], s[2]};
    if (kind_elems(plan->out) < 0)
        return kind_errorf(err, "an input of %dx%dx%d has more than %lld "
                                "values",
                           s[0], s[1], s[2], CLNET_MAX_ELEMENTS);
    const char *keys[2] = {"mean", "std"};
    for (int k = 0; k < 2; k++) {
        int n = a->settings[INPUT_MEAN + k].i[0];
        if (n > 1 && n != s[2])
            return kind_errorf(err,
                               "%s= gives %d values for %d channels; give "
                               "one per channel, or one for all",
                               keys[k], n, s[2]);
    }
    if (s[2] > CLNET_MAX_FLOATS &&
        (a->settings[INPUT_MEAN].i[0] > 1 || a->settings[INPUT_STD].i[0] > 1))
        return kind_errorf(err, "per-channel mean= and std= take at most %d "
                                "channels",
                           CLNET_MAX_FLOATS);
    plan->flops_forward = (double)kind_elems(plan->out);
    return 0;
}

CLNET_KIND_PLUGIN("input", "the network's input: bytes scaled to floats",
                  INPUT_NSETTINGS, input_settings, 0, 0, infer)
