import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.common.utils.Exit;

/**
 * Runs several of Kafka's CLI tools (their main classes, as bin/kafka-*.sh does) one after another in one
 * JVM: each JVM start costs about two seconds of CPU, the tool itself a fraction of that.
 * Usage: java -cp 'CLASSES:kafka-clients-libs/*' ToolBatch OUTDIR MAIN ARG... ::next:: MAIN ARG...
 * Writes call i's stdout, stderr and exit status to OUTDIR/i.out, i.err and i.status. A tool's first
 * Exit.exit (Kafka's own, which its tools call instead of System.exit) ends that call as it would end the
 * process: its status is the call's, and whatever the unwinding prints (tools catch Throwable) is dropped.
 */
public class ToolBatch {
  private static final String NEXT = "::next::";
  /** The status of the running call's first Exit.exit, or null. */
  private static volatile Integer exitStatus;

  /** Unwinds a tool from its Exit.exit; the status is in exitStatus. */
  private static final class ExitCalled extends RuntimeException {
    ExitCalled() {
      super(null, null, false, false);
    }
  }

  /** One stream for the JVM's lifetime (Scala's Console keeps the first System.out it sees), retargeted per call. */
  private static final class Switch extends OutputStream {
    volatile OutputStream target;

    Switch(OutputStream target) {
      this.target = target;
    }

    @Override
    public void write(int b) throws java.io.IOException {
      target.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws java.io.IOException {
      target.write(b, off, len);
    }
  }

  public static void main(String[] args) throws Exception {
    Path outDir = Path.of(args[0]);
    List<List<String>> calls = new ArrayList<>();
    List<String> current = new ArrayList<>();
    for (String arg : Arrays.copyOfRange(args, 1, args.length)) {
      if (arg.equals(NEXT)) {
        calls.add(current);
        current = new ArrayList<>();
      } else {
        current.add(arg);
      }
    }
    calls.add(current);

    Switch out = new Switch(System.out);
    Switch err = new Switch(System.err);
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    Exit.Procedure exitProcedure = (status, message) -> {
      if (exitStatus == null) {
        exitStatus = status;
        out.target = OutputStream.nullOutputStream();
        err.target = OutputStream.nullOutputStream();
      }
      throw new ExitCalled();
    };
    Exit.setExitProcedure(exitProcedure);
    Exit.setHaltProcedure(exitProcedure);

    for (int i = 0; i < calls.size(); i++) {
      List<String> call = calls.get(i);
      ByteArrayOutputStream stdout = new ByteArrayOutputStream();
      ByteArrayOutputStream stderr = new ByteArrayOutputStream();
      out.target = stdout;
      err.target = stderr;
      exitStatus = null;
      int status = 0;
      try {
        String[] toolArgs = call.subList(1, call.size()).toArray(new String[0]);
        Class.forName(call.get(0)).getMethod("main", String[].class).invoke(null, (Object) toolArgs);
      } catch (InvocationTargetException e) {
        if (!(e.getCause() instanceof ExitCalled)) {
          e.getCause().printStackTrace();
          status = 1;
        }
      }
      if (exitStatus != null) status = exitStatus;
      System.out.flush();
      System.err.flush();
      Files.write(outDir.resolve(i + ".out"), stdout.toByteArray());
      Files.write(outDir.resolve(i + ".err"), stderr.toByteArray());
      Files.writeString(outDir.resolve(i + ".status"), Integer.toString(status));
    }
    // Tools may leave non-daemon threads behind; the batch is done.
    System.exit(0);
  }
}
