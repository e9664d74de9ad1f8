"""Training data for RVM: matting and segmentation datasets, augmentation, frame samplers, synthetic data."""
