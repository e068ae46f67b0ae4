"""Research around the product: the paper's ablations as studies (``studies``) and speed
measurements of inference (``speed``) and of training (``train_speed``)."""
