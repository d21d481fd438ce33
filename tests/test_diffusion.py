"""The shared diffusion package on priors with a closed-form score: Gaussian sources, whose
denoiser D(x, sigma) = mu + C (C + sigma^2 I)^-1 (x - mu) is exact, so every sampler can be checked
against the analytic prior, conditional and posterior."""

import math

import pytest
import torch

from harness.diffusion.edm import EDMDenoiser, karras_sigmas, training_sigmas
from harness.diffusion.samplers import (
    churn_alpha,
    euler_sampler,
    gaussian_likelihood_flow,
    generate,
    generate_partial,
    separate_dirac,
    separate_gaussian,
)
from harness.diffusion.scores import constrain, dirac_separation_score, gaussian_separation_score, prior_score

VARS = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=torch.float64)  # independent sources, N = 4
COV = torch.tensor([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]], dtype=torch.float64)


def independent(x, sigma):
    """The exact denoiser of independent N(0, VARS_n) sources, x [B, 4, L]."""
    v = VARS.view(1, -1, 1)
    return v / (v + sigma**2) * x


def correlated(x, sigma):
    """The exact denoiser of N(0, COV) over 3 sources, x [B, 3, L]."""
    a = COV @ torch.linalg.inv(COV + float(sigma) ** 2 * torch.eye(3, dtype=torch.float64))
    return torch.einsum("ij,bjl->bil", a, x)


def test_karras_schedule_follows_its_formula():
    sigmas = karras_sigmas(5, 1e-4, 1.0, 7.0)
    assert len(sigmas) == 6 and float(sigmas[-1]) == 0.0
    ramp = torch.linspace(0, 1, 5, dtype=torch.float64)
    expected = (1.0 ** (1 / 7) + ramp * ((1e-4) ** (1 / 7) - 1.0 ** (1 / 7))) ** 7
    torch.testing.assert_close(sigmas[:-1], expected, rtol=1e-5, atol=1e-9)


def test_training_sigmas_are_log_normal():
    torch.manual_seed(0)
    log_sigma = training_sigmas(200_000, -3.0, 1.0).log()
    assert abs(float(log_sigma.mean()) + 3.0) < 0.01 and abs(float(log_sigma.std()) - 1.0) < 0.01


def test_preconditioned_denoiser_scalings():
    """With F = 0 the EDM denoiser is c_skip x = sd^2 / (sigma^2 + sd^2) x; with F = 1 it adds c_out."""

    class Const(torch.nn.Module):
        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, x, c_noise):
            self.c_noise = c_noise
            return torch.full_like(x, self.value)

    x, sd, sigma = torch.randn(2, 3, 8), 0.2, torch.tensor([0.1, 2.0])
    zero = EDMDenoiser(Const(0.0), sd)
    c_skip = sd**2 / (sigma**2 + sd**2)
    torch.testing.assert_close(zero(x, sigma), c_skip.view(-1, 1, 1) * x)
    torch.testing.assert_close(zero.net.c_noise, sigma.log() / 4)  # c_noise = log(sigma) / 4
    one = EDMDenoiser(Const(1.0), sd)
    c_out = sigma * sd / (sigma**2 + sd**2).sqrt()
    torch.testing.assert_close(one(x, sigma) - zero(x, sigma), c_out.view(-1, 1, 1).expand_as(x))


def test_scores_match_the_analytic_gradients():
    x, sigma = torch.randn(3, 4, 5, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
    var = VARS.view(1, -1, 1) + sigma**2
    torch.testing.assert_close(prior_score(independent, x, sigma), -x / var)
    y = torch.randn(3, 1, 5, dtype=torch.float64)
    # eq. 6.4: the prior score plus (y - sum x) / gamma^2 on every source
    gamma = 0.3
    torch.testing.assert_close(
        gaussian_separation_score(independent, x, sigma, y, torch.tensor(gamma)),
        -x / var + (y - x.sum(1, keepdim=True)) / gamma**2,
    )
    # eqs. 6.6-6.7: g_m = S_m(z) - S_N(z) at z = (x_1..x_{N-1}, y - sum x_m)
    z = constrain(x, y)
    assert torch.allclose(z.sum(1, keepdim=True), y) and torch.equal(z[:, :3], x[:, :3])
    g = dirac_separation_score(independent, x, sigma, y)
    s = -z / var
    torch.testing.assert_close(g[:, :3], s[:, :3] - s[:, 3:])
    torch.testing.assert_close(g.sum(1), torch.zeros(3, 5, dtype=torch.float64))  # keeps the constraint


def test_gaussian_likelihood_flow_solves_its_ode():
    """The closed form equals a fine Euler integration of dx_n/dsigma = -sigma (y - sum x) / (c sigma)^2,
    and reaches the mixture at sigma = 0."""
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    y = torch.randn(2, 1, 3, dtype=torch.float64)
    c, grid = 1.3, torch.linspace(0.8, 0.3, 20001, dtype=torch.float64)
    fine = x.clone()
    for a, b in zip(grid[:-1], grid[1:]):
        fine = fine + (b - a) * (-a * (y - fine.sum(1, keepdim=True)) / (c * a) ** 2)
    torch.testing.assert_close(gaussian_likelihood_flow(x, y, 0.8, 0.3, c), fine, rtol=1e-4, atol=1e-4)
    end = gaussian_likelihood_flow(x, y, 0.1, 0.0, c)
    torch.testing.assert_close(end.sum(1, keepdim=True), y)


def test_churn_alpha_is_capped():
    assert churn_alpha(20, 100) == 0.2 and churn_alpha(0, 10) == 0.0
    assert churn_alpha(1000, 10) == pytest.approx(math.sqrt(2) - 1)


def test_algorithm_3_line_by_line():
    """separate_dirac equals a literal transcription of Algorithm 3 (same noise draws)."""
    y = torch.randn(2, 1, 6, dtype=torch.float64)
    sigmas = karras_sigmas(6, 1e-3, 1.0, 7.0)
    churn, r_max, n = 3.0, 2, 4
    ours = separate_dirac(independent, y, n, sigmas, churn, r_max, torch.Generator().manual_seed(5))

    gen = torch.Generator().manual_seed(5)
    big_i = len(sigmas) - 1

    def eps(shape):
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    x = sigmas[0] * eps((2, n, 6))  # line 1
    alpha = min(churn / big_i, math.sqrt(2) - 1)  # line 2
    for i in range(big_i):  # lines 3-20 (sigma_i = sigmas[i], sigma_{i-1} = sigmas[i + 1])
        s_i, s_next = float(sigmas[i]), float(sigmas[i + 1])
        for r in range(r_max, -1, -1):
            s_hat = s_i * (alpha + 1)  # line 5
            x = x + math.sqrt(s_hat**2 - s_i**2) * eps(x.shape)  # lines 6-7
            z = torch.cat([x[:, :-1], y - x[:, :-1].sum(1, keepdim=True)], 1)  # line 8
            score = (independent(z, s_hat) - z) / s_hat**2
            g = score[:, :-1] - score[:, -1:]  # lines 9-12
            # line 13, in dx/dsigma form: the ODE step along -sigma * score
            free = z[:, :-1] + (s_next - s_hat) * (-s_hat * g)
            x = torch.cat([free, y - free.sum(1, keepdim=True)], 1)  # line 14
            if r > 0:  # lines 15-18
                x = x + math.sqrt(s_i**2 - s_next**2) * eps(x.shape)
    torch.testing.assert_close(ours, torch.cat([x[:, :-1], y - x[:, :-1].sum(1, keepdim=True)], 1))


def test_total_generation_samples_the_prior():
    x = generate(correlated, (20_000, 3, 1), karras_sigmas(600, 1e-4, 10.0, 7.0),
                 generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # fmt: skip
    assert float((torch.cov(x[:, :, 0].T) - COV).abs().max()) < 0.06
    assert float(x.mean((0, 2)).abs().max()) < 0.03


def test_partial_generation_samples_the_analytic_conditional():
    given = torch.zeros(20_000, 3, 1, dtype=torch.float64)
    given[:, 0] = 1.0  # x_1 = 1 given; x_2, x_3 generated
    x = generate_partial(correlated, given, [True, False, False], karras_sigmas(400, 1e-4, 10.0, 7.0),
                         churn=80, corrections=3, generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert torch.equal(x[:, 0], given[:, 0])
    mean = COV[1:, 0] / COV[0, 0]
    cov = COV[1:, 1:] - torch.outer(COV[1:, 0], COV[0, 1:]) / COV[0, 0]
    assert float((x[:, 1:, 0].mean(0) - mean).abs().max()) < 0.05
    assert float((torch.cov(x[:, 1:, 0].T) - cov).abs().max()) < 0.12


@pytest.mark.parametrize("likelihood", ["dirac", "gaussian"])
def test_separation_samples_the_analytic_posterior(likelihood):
    """y = sum of independent N(0, v_n) sources: the posterior has mean v_n / sum(v) y and variances
    v_n - v_n^2 / sum(v). The annealed likelihoods give the mean; their variances are within 20 %
    (the thesis's samplers are approximations of the posterior: they run the prior score on the
    constraint, not the diffused posterior's score). The correction rounds bring the mean closer."""
    y = torch.full((20_000, 1, 1), 1.5, dtype=torch.float64)
    sigmas = karras_sigmas(400, 1e-4, 3.0, 7.0)

    def run(corrections):
        gen = torch.Generator().manual_seed(2)
        if likelihood == "dirac":
            return separate_dirac(independent, y, 4, sigmas, 100, corrections, gen)
        return separate_gaussian(independent, y, 4, sigmas, math.sqrt(2), 100, corrections, gen)

    x = run(corrections=3)
    mean, var = VARS / VARS.sum() * 1.5, VARS - VARS**2 / VARS.sum()
    assert float((x.mean((0, 2)) - mean).abs().max()) < 0.05
    ratio = x.var((0, 2)) / var
    assert float(ratio.min()) > 0.8 and float(ratio.max()) < 1.2, ratio
    residual = float((x.sum(1) - y[:, 0]).abs().max())
    assert residual < (1e-9 if likelihood == "dirac" else 0.02)  # the mixture is honoured
    plain = run(corrections=0)
    assert float((plain.mean((0, 2)) - mean).abs().max()) > float((x.mean((0, 2)) - mean).abs().max())


def test_euler_sampler_projects_and_reports_progress():
    seen = []
    x = torch.zeros(1, 2, 3)
    out = euler_sampler(lambda v, s: -v / (1 + s**2), x + 1.0, karras_sigmas(4, 0.01, 1.0, 7.0),
                        project=lambda v, s: v.clamp(max=0.5), progress=seen.append)  # fmt: skip
    assert seen == [0, 1, 2, 3] and float(out.max()) <= 0.5
