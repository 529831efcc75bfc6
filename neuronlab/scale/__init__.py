"""Scale beyond one process: activation stores as dask arrays, and analyses run on a dask.distributed cluster.

Nothing here is a home-made cluster: the schedulers are dask's (:func:`neuronlab.scale.dask_arrays.scheduler`
connects to a running ``dask.distributed`` scheduler or starts a ``LocalCluster``). dask is an optional
dependency (``pip install neuronlab[dask]``).
"""
