"""Evaluation metrics, one module each: SI-SDR / SI-SDRi with the MSDM protocol (``sisdr``),
bss_eval v4 SDR through museval and a batched fast path (``sdr``), FAD (``fad``), PSNR and FID
(``image``). Shared code: no family imports these the other way round."""
