"""`jdl.models`: the model zoo; each model is a function returning a `jdl.nn.Layer` (the
autoencoders and the VAE return a NamedTuple holding their encoder, decoder and model Layers)."""
from jdl.models._alexnet import alexnet as alexnet
from jdl.models._autoencoder import Autoencoder as Autoencoder
from jdl.models._autoencoder import conv_autoencoder as conv_autoencoder
from jdl.models._autoencoder import corrupt as corrupt
from jdl.models._autoencoder import dense_autoencoder as dense_autoencoder
from jdl.models._autoencoder import denoising as denoising
from jdl.models._dcgan import dcgan_discriminator as dcgan_discriminator
from jdl.models._dcgan import dcgan_generator as dcgan_generator
from jdl.models._googlenet import googlenet as googlenet
from jdl.models._googlenet import googlenet_aux_heads as googlenet_aux_heads
from jdl.models._googlenet import inception as inception
from jdl.models._lenet import lenet5 as lenet5
from jdl.models._mlp import logistic_regression as logistic_regression
from jdl.models._mlp import mlp as mlp
from jdl.models._resnet import basic_block as basic_block
from jdl.models._resnet import bottleneck_block as bottleneck_block
from jdl.models._resnet import cifar_resnet as cifar_resnet
from jdl.models._resnet import plain20 as plain20
from jdl.models._resnet import plain32 as plain32
from jdl.models._resnet import plain44 as plain44
from jdl.models._resnet import plain56 as plain56
from jdl.models._resnet import plain110 as plain110
from jdl.models._resnet import resnet as resnet
from jdl.models._resnet import resnet18 as resnet18
from jdl.models._resnet import resnet20 as resnet20
from jdl.models._resnet import resnet32 as resnet32
from jdl.models._resnet import resnet34 as resnet34
from jdl.models._resnet import resnet44 as resnet44
from jdl.models._resnet import resnet50 as resnet50
from jdl.models._resnet import resnet56 as resnet56
from jdl.models._resnet import resnet101 as resnet101
from jdl.models._resnet import resnet110 as resnet110
from jdl.models._resnet import resnet152 as resnet152
from jdl.models._small_cnn import fashion_cnn as fashion_cnn
from jdl.models._unet import unet as unet
from jdl.models._vae import VAE as VAE
from jdl.models._vae import VAEOutput as VAEOutput
from jdl.models._vae import gaussian_encoder as gaussian_encoder
from jdl.models._vae import vae as vae
from jdl.models._vgg import vgg as vgg
from jdl.models._vgg import vgg11 as vgg11
from jdl.models._vgg import vgg13 as vgg13
from jdl.models._vgg import vgg16 as vgg16
from jdl.models._vgg import vgg19 as vgg19
from jdl.models._zfnet import zfnet as zfnet

__all__ = ["mlp", "logistic_regression", "lenet5", "fashion_cnn",
           "alexnet", "zfnet", "vgg", "vgg11", "vgg13", "vgg16", "vgg19",
           "googlenet", "googlenet_aux_heads", "inception",
           "resnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "basic_block", "bottleneck_block", "cifar_resnet",
           "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
           "plain20", "plain32", "plain44", "plain56", "plain110",
           "Autoencoder", "dense_autoencoder", "conv_autoencoder", "denoising", "corrupt",
           "VAE", "VAEOutput", "vae", "gaussian_encoder", "unet",
           "dcgan_generator", "dcgan_discriminator"]
