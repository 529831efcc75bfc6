"""Scale beyond one process: activation stores as dask arrays, and analyses run on a dask.distributed cluster.

Nothing here is a home-made cluster: the schedulers are dask's (:func:`neuronlab.scale.dask_arrays.scheduler`
connects to a running ``dask.distributed`` scheduler or starts a ``LocalCluster``). dask is an optional
dependency (``pip install neuronlab[dask]``).

- :mod:`~neuronlab.scale.dask_arrays`: stores as dask arrays; the map-reduce rankers (probeless, iou, ap);
- :mod:`~neuronlab.scale.dask_probe`: the linear probe's loss and gradient per row chunk on the workers;
- :mod:`~neuronlab.scale.stats`: mergeable per-neuron statistics (moments, quantiles, correlation, Gaussian
  sufficient statistics), streamed in one process or on dask.
"""
