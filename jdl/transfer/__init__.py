"""Transfer learning: feature extraction and fine-tuning (Senk; docs/curriculum.md, chapter 8).

Senk's two recipes, on a model trained by jdl (or loaded from a jdl weights file):

1. **Feature extraction.** Run the pretrained network up to a named layer (AlexNet's fc6 or
   fc7) on your own data and train a new classifier on those features:

       feats = transfer.extract_features(base, params, state, "fc7", x)       # (N, 4096)
       head_ts = train.init_train_state(models.logistic_regression(5), opt, key, feats[:1].shape)
       head_ts, _ = train.fit(head_ts, step, (feats, y), epochs=20, batch_size=128)

2. **Fine-tuning.** Start a new model (same body, new head) from the pretrained tensors and
   train it on your data, with the early layers frozen and the pretrained ones at a smaller
   learning rate than the new head:

       opt = transfer.fine_tune_optimizer(optax.adam(1e-3), frozen=["conv1/*", "conv2/*"],
                                          head="fc8/*", pretrained_lr_scale=0.1)
       ts, report = transfer.init_transfer_state(new_model, opt, key, (1, 227, 227, 3),
                                                 params, state, exclude="fc8/*")

Everything is addressed by parameter path ("features/block1/conv/w", see `jdl.paths`) and is
built from existing pieces: `jdl.nn.cut` (the feature extractor), `jdl.regularizers.freeze`
(optax.multi_transform + set_to_zero, *not* optax.masked, which passes raw gradients through
on unmasked leaves), `optax.scale` semantics for the pretrained learning rate, and
`jdl.checkpoint.save_weights` / `load_weights` (checksummed single file) for the weights.
"""
from jdl.transfer._features import attach_head as attach_head
from jdl.transfer._features import extract_features as extract_features
from jdl.transfer._features import feature_extractor as feature_extractor
from jdl.transfer._fine_tune import fine_tune_groups as fine_tune_groups
from jdl.transfer._fine_tune import fine_tune_optimizer as fine_tune_optimizer
from jdl.transfer._transplant import TransplantReport as TransplantReport
from jdl.transfer._transplant import init_transfer_state as init_transfer_state
from jdl.transfer._transplant import transplant as transplant
from jdl.transfer._weights import load_pretrained as load_pretrained

__all__ = ["feature_extractor", "extract_features", "attach_head", "transplant",
           "TransplantReport", "init_transfer_state", "fine_tune_optimizer", "fine_tune_groups",
           "load_pretrained"]
