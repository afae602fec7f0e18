"""Explain what a baseline learned: per-nucleotide attributions (:mod:`zoo.explain.attribution`), sequence logos of
them (:mod:`zoo.explain.logos`), and first-layer convolution filters as position weight matrices in MEME format with
optional JASPAR matching (:mod:`zoo.explain.motifs`)."""
from zoo.explain.attribution import (METHOD_ALIASES, METHOD_TITLES, METHODS, Attributions, GradientUnsupportedError,
                                     attribute, in_silico_mutagenesis, integrated_gradients, saliency,
                                     supported_methods)

__all__ = ["METHODS", "METHOD_TITLES", "METHOD_ALIASES", "supported_methods", "Attributions",
           "GradientUnsupportedError", "attribute", "saliency", "integrated_gradients", "in_silico_mutagenesis"]
