"""jdl.data: datasets on local disk, IDX files, preprocessing, splits, mini-batches in the order
`fit` uses, and keyed augmentation.

Images are uint8 NHWC (N, H, W, C); labels int32; text is a list of str, and ids for the
sequence layers come from a `Vocabulary` (padding id 0). Nothing is downloaded.
"""
from jdl.data._augment import IMAGENET_PCA as IMAGENET_PCA
from jdl.data._augment import additive_noise as additive_noise
from jdl.data._augment_compose import augment as augment
from jdl.data._augment_compose import compose as compose
from jdl.data._augment_compose import make_augmentation as make_augmentation
from jdl.data._augment import random_brightness as random_brightness
from jdl.data._augment import random_contrast as random_contrast
from jdl.data._augment import random_crop as random_crop
from jdl.data._augment import random_flip as random_flip
from jdl.data._augment import random_rgb_intensity as random_rgb_intensity
from jdl.data._augment import random_rotation as random_rotation
from jdl.data._augment import random_translate as random_translate
from jdl.data._augment import rgb_pca as rgb_pca
from jdl.data._augment import rotate as rotate
from jdl.data._augment import translate as translate
from jdl.data._batching import batches as batches
from jdl.data._batching import num_batches as num_batches
from jdl.data._order import epoch_order as epoch_order
from jdl.data._order import shuffle_key as shuffle_key
from jdl.data._corpora import FORTUNE_FILES as FORTUNE_FILES
from jdl.data._corpora import WORD_LISTS as WORD_LISTS
from jdl.data._corpora import fortunes as fortunes
from jdl.data._corpora import in_test_split as in_test_split
from jdl.data._corpora import word_languages as word_languages
from jdl.data._datasets import CLASS_NAMES as CLASS_NAMES
from jdl.data._datasets import DATASETS as DATASETS
from jdl.data._datasets import available as available
from jdl.data._datasets import find as find
from jdl.data._datasets import load as load
from jdl.data._idx import IDX_DTYPES as IDX_DTYPES
from jdl.data._idx import read_idx as read_idx
from jdl.data._idx import write_idx as write_idx
from jdl.data._preprocessing import center as center
from jdl.data._folds import FoldRows as FoldRows
from jdl.data._folds import fold_rows as fold_rows
from jdl.data._folds import kfold as kfold
from jdl.data._preprocessing import one_hot as one_hot
from jdl.data._preprocessing import scale as scale
from jdl.data._preprocessing import standardize as standardize
from jdl.data._splits import permutation as permutation
from jdl.data._splits import shuffle as shuffle
from jdl.data._splits import split as split
from jdl.data._splits import train_val_split as train_val_split
from jdl.data._text import Vocabulary as Vocabulary
from jdl.data._text import char_vocabulary as char_vocabulary
from jdl.data._text import length_buckets as length_buckets

__all__ = [
    "read_idx", "write_idx", "IDX_DTYPES",
    "load", "available", "find", "CLASS_NAMES", "DATASETS",
    "scale", "center", "standardize", "one_hot",
    "split", "train_val_split", "shuffle", "permutation", "kfold", "fold_rows", "FoldRows",
    "batches", "num_batches", "epoch_order", "shuffle_key",
    "random_flip", "random_crop", "translate", "random_translate", "rotate", "random_rotation",
    "random_brightness", "random_contrast", "rgb_pca", "IMAGENET_PCA", "random_rgb_intensity",
    "additive_noise", "compose", "augment", "make_augmentation",
    "word_languages", "fortunes", "WORD_LISTS", "FORTUNE_FILES", "in_test_split",
    "Vocabulary", "char_vocabulary", "length_buckets",
]
