"""pix2pixHD's objective: LSGAN, discriminator feature matching and the VGG-19 perceptual loss."""

import logging

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io.weights import load_state_dict, vgg_features

log = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# torchvision's vgg19 `features`: output channels of each 3x3 conv, "M" a 2x2 max pool
VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
# pix2pixHD's slices of `features` (ending at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1) and their weights
VGG_SLICES = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]
VGG_WEIGHTS = [1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def lsgan_loss(preds, target_is_real):
    """preds: a MultiscaleDiscriminator's output; mean squared distance of every scale's scores to 1 (real) or 0."""
    loss = 0.0
    for feats in preds:
        scores = feats[-1]
        loss = loss + F.mse_loss(scores, torch.full_like(scores, 1.0 if target_is_real else 0.0))
    return loss


def feature_matching_loss(pred_fake, pred_real, n_layers_d):
    """L1 between the discriminators' intermediate features on fake and real pairs, weighted as in pix2pixHD."""
    feat_weight = 4.0 / (n_layers_d + 1)
    d_weight = 1.0 / len(pred_fake)
    loss = 0.0
    for fake_feats, real_feats in zip(pred_fake, pred_real):
        for f, r in zip(fake_feats[:-1], real_feats[:-1]):
            loss = loss + d_weight * feat_weight * F.l1_loss(f, r.detach())
    return loss


def vgg19_features():
    """torchvision's vgg19().features up to relu5_1 (index 29), same module indices, so its state dict loads."""
    return vgg_features(VGG19_LAYOUT, VGG_SLICES[-1][1])


def load_vgg19_features(path):
    """Load the convolutions of torchvision's vgg19 state dict (e.g. vgg19-dcbb9e9d.pth) from a local file."""
    features = vgg19_features()
    shapes = {f"features.{k}": v.shape for k, v in features.state_dict().items()}
    state = load_state_dict(path, "train.vgg_weights",
                            f"torchvision's vgg19 state dict ({VGG19_FILE}, from {VGG19_URL})", shapes)
    features.load_state_dict({k[len("features."):]: v for k, v in state.items()})
    return features


class VGGLoss(nn.Module):
    """pix2pixHD's perceptual loss: sum over relu1_1..relu5_1 of w_i * L1(vgg_i(fake), vgg_i(real)).

    Images in [-1,1] are brought to [0,1] and normalized with ImageNet's statistics, as the weights expect.
    """

    def __init__(self, path):
        super().__init__()
        features = load_vgg19_features(path)
        self.slices = nn.ModuleList(features[a:b] for a, b in VGG_SLICES)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode=True):
        return super().train(False)  # frozen: always in eval mode

    def forward(self, fake, real):
        x = ((fake + 1) / 2 - self.mean) / self.std
        y = ((real + 1) / 2 - self.mean) / self.std
        loss = 0.0
        for w, s in zip(VGG_WEIGHTS, self.slices):
            x, y = s(x), s(y)
            loss = loss + w * F.l1_loss(x, y.detach())
        return loss


def perceptual_loss(vgg_weights, lambda_vgg):
    """The VGGLoss for `train.vgg_weights`, or None (with one warning) when it is not configured."""
    if not lambda_vgg:
        return None
    if vgg_weights is None:
        log.warning("perceptual (VGG) loss is OFF: train.vgg_weights is null. To enable it, download %s (%s) "
                    "and set train.vgg_weights=/path/to/%s", VGG19_FILE, VGG19_URL, VGG19_FILE)
        return None
    return VGGLoss(vgg_weights)
