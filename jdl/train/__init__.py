"""`jdl.train`: TrainState, jitted train/eval steps, and the `fit` / `evaluate` / `predict` loop.

    ts = init_train_state(model, optimizer, jax.random.key(0), (1, 28, 28, 1))
    train_step, eval_step = make_steps(model, optimizer, jdl.losses.softmax_cross_entropy,
                                       metrics={"accuracy": jdl.metrics.accuracy})
    ts, history = fit(ts, train_step, (x, y), epochs=5, batch_size=128,
                      val_data=(x_val, y_val), eval_step=eval_step)
"""
from jdl.train._callbacks import Callback as Callback
from jdl.train._callbacks import EarlyStopping as EarlyStopping
from jdl.train._callbacks import MemberEarlyStopping as MemberEarlyStopping
from jdl.train._callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from jdl.train._improvement import Improvement as Improvement
from jdl.train._bayes import BayesianSearch as BayesianSearch
from jdl.train._chunking import chunking_rule as chunking_rule
from jdl.train._crossval import CrossValidation as CrossValidation
from jdl.train._crossval import cross_validate as cross_validate
from jdl.train._distributed import add_distributed_arguments as add_distributed_arguments
from jdl.train._distributed import initialize as initialize_distributed
from jdl.train._distributed import initialize_from_args as initialize_from_args
from jdl.train._evaluate import evaluate as evaluate
from jdl.train._evaluate import evaluate_population as evaluate_population
from jdl.train._evaluate import predict as predict
from jdl.train._gan import GANState as GANState
from jdl.train._gan import SampleGrid as SampleGrid
from jdl.train._gan import discriminator_step as discriminator_step
from jdl.train._gan import generate as generate
from jdl.train._gan import generator_step as generator_step
from jdl.train._gan import init_gan_state as init_gan_state
from jdl.train._gan import make_gan_step as make_gan_step
from jdl.train._gan import noise as gan_noise
from jdl.train._loop import fit as fit
from jdl.train._parallel import local as local
from jdl.train._parallel import make_mesh as make_mesh
from jdl.train._parallel import make_pmap_train_step as make_pmap_train_step
from jdl.train._parallel import replicate as replicate
from jdl.train._parallel import stack_replicas as stack_replicas
from jdl.train._parallel import unreplicate as unreplicate
from jdl.train._population import ensemble_predict as ensemble_predict
from jdl.train._population import init_population as init_population
from jdl.train._population import make_population_step as make_population_step
from jdl.train._population import member as member
from jdl.train._population import population_mesh as population_mesh
from jdl.train._population import set_hyperparams as set_hyperparams
from jdl.train._population import shard_population as shard_population
from jdl.train._population_fit import fit_population as fit_population
from jdl.train._search import best_member as best_member
from jdl.train._search import format_table as format_table
from jdl.train._search import grid as grid
from jdl.train._search import random_search as random_search
from jdl.train._search import results_table as results_table
from jdl.train._state import TrainState as TrainState
from jdl.train._state import dropout_key as dropout_key
from jdl.train._state import init_train_state as init_train_state
from jdl.train._steps import make_eval_step as make_eval_step
from jdl.train._steps import make_steps as make_steps
from jdl.train._steps import make_train_step as make_train_step

__all__ = [
    "TrainState", "init_train_state", "dropout_key", "chunking_rule",
    "make_train_step", "make_eval_step", "make_steps",
    "fit", "evaluate", "predict", "Callback", "EarlyStopping", "MemberEarlyStopping",
    "ReduceLROnPlateau", "Improvement",
    "init_population", "set_hyperparams", "make_population_step", "member", "ensemble_predict",
    "shard_population", "population_mesh",
    "fit_population", "evaluate_population", "grid", "random_search", "results_table",
    "format_table", "best_member", "cross_validate", "CrossValidation",
    "BayesianSearch",
    "GANState", "init_gan_state", "make_gan_step", "discriminator_step", "generator_step",
    "gan_noise", "generate", "SampleGrid",
    "make_mesh", "replicate", "local",
    "add_distributed_arguments", "initialize_distributed", "initialize_from_args", "make_pmap_train_step", "stack_replicas", "unreplicate",
]
