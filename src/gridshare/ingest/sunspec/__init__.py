"""SunSpec over Modbus TCP: a gateway that polls inverters and meters and signs readings.

At every interval boundary (``interval_s``, aligned to the UNIX epoch) :class:`SunSpecPoller`
reads each configured device's lifetime energy registers and, for a device whose previous
boundary sample exists, hands one signed :class:`~gridshare.metering.wire.ReadingBundle`
(one reading: the interval that just ended) to a ``submit`` callback.

Devices and models
    A device is one Modbus unit (``unit_id``) behind ``host:port``. The "SunS" marker is
    looked for at ``base_address``, or at 40000, 0 and 50000 (pysunspec2's scan order).
    Supported: common model 1 (manufacturer, model, serial number), single/split/three-
    phase inverters 101, 102, 103 (a *production* meter: ``export_register_wh = WH``,
    ``import_register_wh = 0``, the models have no import register) and AC meters 201,
    202, 203, 204 (``TotWhImp`` / ``TotWhExp``; import is energy into the metered side as
    everywhere in gridshare, see ``docs/glossary.md``). If a unit holds several supported
    models, set :attr:`SunSpecDevice.model_id`; the first instance of that model is read.

The package, one seam per module:

``device``
    the device configuration, the supported models and :class:`SunSpecError`;
``decoding``
    a model's registers to a :class:`Sample` (scaling, rounding, not-implemented values,
    signs), from pysunspec2's model definitions; no I/O;
``modbus``
    the Modbus TCP reads (pymodbus) that find the map and fetch one sample;
``readings``
    register advances per interval to signed one-reading bundles (gaps, resets); no I/O;
``poller``
    :class:`SunSpecPoller`: boundaries, baselines, sequence numbers, ``submit``.
"""
