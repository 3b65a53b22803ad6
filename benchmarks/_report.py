"""What the benchmark scripts share: the machine they ran on and rst tables."""

import os
import platform


def cpu_model():
    """The processor's model name, as /proc/cpuinfo gives it where it exists."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine(versions):
    """One line naming the processor, its cores and the given versions."""
    return f"{cpu_model()}, {os.cpu_count()} cores; " + ", ".join(versions)


def rst_list_table(title, header, rows):
    """A reStructuredText list-table; ``title`` may be empty."""
    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines)
