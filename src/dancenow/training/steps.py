"""One optimisation step of each training phase (see dancenow.training.phases): the pix2pixHD objective with EDN's temporal
discriminator, and the face GAN.

Every step returns a dict of its losses as 0-dim float32 tensors on the device, detached: reading a value back waits
for the device to finish the step, so the training loop reads them only when it logs (training.readback). Discriminator
and generator steps follow pix2pixHD: the generator's losses train the generator alone, the discriminator's losses
the discriminator alone, both with the networks as they were before the step. A discriminator judges a generated
image once: its one forward pass serves the generator's losses (gradients through it into the generator) and its own
(gradients into its weights), where pix2pixHD runs it twice (on the image and on a detached copy); each backward
pass computes only the gradients of the weights its optimizer steps. Under `autocast` the forward passes run in
bfloat16 (GPUs); the backward passes and the optimizer steps are outside it.
"""

import torch

from ..face import crop
from ..models.losses import feature_matching_loss, lsgan_loss
from ..models.performer import generator_input

MAIN_LOSSES = ("G_GAN", "G_feat", "G_VGG", "D_real", "D_fake")
TEMPORAL_LOSSES = ("G_temporal", "D_temporal")
FACE_LOSSES = ("F_GAN", "F_feat", "F_VGG", "FD_real", "FD_fake")


def set_requires_grad(module, flag):
    for p in module.parameters():
        p.requires_grad_(flag)


def gan_terms(D, cond, fake, real, n_layers_d):
    """From one conditional discriminator: G's LSGAN and feature-matching losses, D's real and fake losses."""
    pred_fake = D(cond, fake)
    pred_real = D(cond, real)
    return (lsgan_loss(pred_fake, True), feature_matching_loss(pred_fake, pred_real, n_layers_d),
            lsgan_loss(pred_real, True), lsgan_loss(pred_fake, False))


def generate_pair(G, generator_cfg, batch):
    """The generated frames of a training item: [(label, fake, real)] for frame-by-frame training; with temporal
    smoothing the consecutive pair, G(x_{t-1}, 0) then G(x_t, G(x_{t-1}, 0)), gradients flowing through both."""
    if not generator_cfg["temporal"]:
        return [(batch["label"], G(batch["label"]), batch["real"])]
    fake_prev = G(generator_input(generator_cfg, batch["label_prev"], None))
    fake = G(generator_input(generator_cfg, batch["label"], fake_prev))
    return [(batch["label_prev"], fake_prev, batch["real_prev"]), (batch["label"], fake, batch["real"])]


def detached(losses):
    return {k: v.detach().float() for k, v in losses.items()}


def backward_and_step(opt_g, loss_g, opt_d, loss_d):
    """G's loss into the weights G's optimizer steps, D's into D's: the graph they share (D's passes over the
    generated images) is kept for D's backward; both step after."""
    for opt, loss, keep in ((opt_g, loss_g, True), (opt_d, loss_d, False)):
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=[p for group in opt.param_groups for p in group["params"] if p.requires_grad],
                      retain_graph=keep)
    opt_g.step()
    opt_d.step()


def main_step(nets, opts, vgg, batch, c, generator_cfg, autocast):
    """pix2pixHD's step, per frame; with temporal smoothing also EDN's temporal discriminator Dt, which judges
    (x_{t-1}, x_t, y_{t-1}, y_t) against the real pair."""
    G, D, Dt = nets["G"], nets["D"], nets.get("Dt")
    zero = torch.zeros((), device=batch["label"].device)
    with autocast:
        frames = generate_pair(G, generator_cfg, batch)
        terms = [gan_terms(D, label, fake, real, c["n_layers_d"]) for label, fake, real in frames]
        g_gan, g_feat, d_real, d_fake = (sum(t[k] for t in terms) / len(terms) for k in range(4))
        g_vgg = sum(vgg(fake, real) for _, fake, real in frames) / len(frames) if vgg is not None else zero
        losses = dict(G_GAN=g_gan, G_feat=g_feat * c["lambda_feat"], G_VGG=g_vgg * c["lambda_vgg"],
                      D_real=d_real, D_fake=d_fake)
        loss_g = losses["G_GAN"] + losses["G_feat"] + losses["G_VGG"]
        loss_d = (d_real + d_fake) * 0.5
        if Dt is not None:
            (lp, fp, rp), (lt, ft, rt) = frames
            t_gan, t_feat, t_real, t_fake = gan_terms(Dt, torch.cat([lp, lt], 1), torch.cat([fp, ft], 1),
                                                      torch.cat([rp, rt], 1), c["n_layers_d"])
            losses.update(G_temporal=t_gan + t_feat * c["lambda_feat"], D_temporal=(t_real + t_fake) * 0.5)
            loss_g = loss_g + losses["G_temporal"]
            loss_d = loss_d + losses["D_temporal"]
    backward_and_step(opts["G"], loss_g, opts["D"], loss_d)
    return detached(losses)


def face_step(nets, opts, vgg, batch, c, generator_cfg, face_cfg, autocast):
    """EDN's face GAN: the main generator frozen, a residual generator refines the face crop of its output, judged
    by its own discriminator on (label crop, face crop)."""
    F, FD, G = nets["F"], nets["FD"], nets["G_frozen"]
    size, boxes = face_cfg["crop"], batch["face_box"]
    with autocast:
        with torch.no_grad():
            _, fake, _ = generate_pair(G, generator_cfg, batch)[-1]
        label_c, fake_c, real_c = (crop(x, boxes, size) for x in (batch["label"], fake.float(), batch["real"]))
        face = fake_c + F(torch.cat([label_c, fake_c], dim=1))
        g_gan, g_feat, d_real, d_fake = gan_terms(FD, label_c, face, real_c, face_cfg["n_layers_d"])
        g_vgg = vgg(face, real_c) if vgg is not None else torch.zeros((), device=face.device)
        losses = dict(F_GAN=g_gan, F_feat=g_feat * face_cfg["lambda_feat"], F_VGG=g_vgg * c["lambda_vgg"],
                      FD_real=d_real, FD_fake=d_fake)
    backward_and_step(opts["F"], losses["F_GAN"] + losses["F_feat"] + losses["F_VGG"], opts["FD"],
                      (d_real + d_fake) * 0.5)
    return detached(losses)
