"""`jdl.viz`: what a network learned and how it did, as numbers and as PNG files
(docs/curriculum.md, chapter 8).

Computations (pure JAX, no matplotlib; jittable, any jdl model and `nn.cut` layer path):

    feature_maps(model, params, state, x, path)     activations of a named layer
    saliency(model, params, state, x, label)        max_c |dS_label/dx|     (Simonyan et al. 2014)
    class_model(model, params, state, label, input_shape, ...)  argmax_I S_label(I) - l2 ||I||^2
    gram_matrix, content_loss, style_loss, total_variation, style_transfer   (Gatys et al. 2016)

Pictures (matplotlib with the Agg backend, imported on first use; each writes a PNG atomically
and returns its path): plot_history, plot_filters, plot_feature_maps, plot_saliency,
plot_images, plot_confusion_matrix, and save_figure for figures of your own.

Autoencoders and generative models (chapter 9; each returns a matplotlib Figure and, given a
path, writes the PNG): sample_grid, reconstruction_pairs, latent_scatter, latent_interpolation,
denoising_triplets.
"""
from jdl.viz._class_model import class_model as class_model
from jdl.viz._confusion import plot_confusion_matrix as plot_confusion_matrix
from jdl.viz._features import feature_maps as feature_maps
from jdl.viz._figure import pyplot as pyplot
from jdl.viz._figure import save_figure as save_figure
from jdl.viz._filters import plot_feature_maps as plot_feature_maps
from jdl.viz._filters import plot_filters as plot_filters
from jdl.viz._generative import denoising_triplets as denoising_triplets
from jdl.viz._generative import latent_interpolation as latent_interpolation
from jdl.viz._generative import latent_scatter as latent_scatter
from jdl.viz._generative import reconstruction_pairs as reconstruction_pairs
from jdl.viz._generative import sample_grid as sample_grid
from jdl.viz._history import plot_history as plot_history
from jdl.viz._images import plot_images as plot_images
from jdl.viz._images import plot_saliency as plot_saliency
from jdl.viz._saliency import saliency as saliency
from jdl.viz._style import content_loss as content_loss
from jdl.viz._style import gram_matrix as gram_matrix
from jdl.viz._style import style_loss as style_loss
from jdl.viz._style import style_transfer as style_transfer
from jdl.viz._style import total_variation as total_variation

__all__ = [
    "feature_maps", "saliency", "class_model",
    "gram_matrix", "content_loss", "style_loss", "total_variation", "style_transfer",
    "save_figure", "plot_history", "plot_filters", "plot_feature_maps", "plot_saliency",
    "plot_images", "plot_confusion_matrix", "pyplot",
    "sample_grid", "reconstruction_pairs", "latent_scatter", "latent_interpolation",
    "denoising_triplets",
]
