"""Training package for hand_perception models: datasets, losses, trainers, metrics and export.

* ``hand_training.trainer``: generic trainer (tqdm, checkpoints + resume, TensorBoard, seeds,
  AMP on CUDA, DDP under torchrun)
* ``hand_training.data``: synthetic motion generator (``synthetic``), DexYCB / HOT3D / HO3D
  readers (``readers``), MANO vector operations (``mano_ops``)
* ``hand_training.metrics``: PA-MPJPE, MPJPE, AUC_J, F@5/F@15, G-/GA-MPJPE, acceleration error
* ``hand_training.unihand``: two-stage UniHand training CLI; ``hand_training.export_unihand``:
  ONNX export of the denoiser and decoder with an ONNX Runtime parity check
"""

__version__ = "0.1.0"
